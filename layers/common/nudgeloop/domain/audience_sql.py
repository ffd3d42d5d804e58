# ruff: noqa: S608 - the query is built as text: every value passes through ``lit`` and every name is
# one the model's patterns admit; the result is parsed back as exactly one SELECT (compile_audience).
"""An audience definition compiled to one SQL query over the audience tables, written once (in
DuckDB's dialect, the embedded engine) and transpiled by sqlglot for Athena (the AWS engine).

The query plan scales with the data, not with a Lambda: every condition that reads orders,
events or mails is one ``GROUP BY customer_id`` over its table, joined to the customers once;
the condition tree is then a boolean expression over those measures. The measures are also
selected, so a preview shows the values that qualified each member.

Every moment ("the last 183 days", "today", a birthday's date in each timezone) is fixed when
the query is compiled, from the clock: the same definition at the same instant is the same SQL.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import sqlglot

from nudgeloop.domain import audiences as a
from nudgeloop.domain.dates import yearly
from nudgeloop.domain.matches import Match, Range, Scalar

_ANCHORS: dict[str, tuple[str, str]] = {  # anchor -> (aggregate, channel filter)
    "first_order": ("MIN", ""),
    "latest_order": ("MAX", ""),
    "latest_store_order": ("MAX", "store"),
    "latest_webshop_order": ("MAX", "webshop"),
    "latest_app_order": ("MAX", "app"),
}


def lit(value: Any) -> str:
    """A SQL literal (strings quoted, quotes doubled)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def ts_literal(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(ZoneInfo('UTC')).strftime('%Y-%m-%d %H:%M:%S')}'"


def _day(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _range(expr: str, r: Range) -> str:
    parts = []
    for bound, op in ((r.min, ">="), (r.max, "<="), (r.gt, ">"), (r.lt, "<")):
        if bound is not None:
            parts.append(f"{expr} {op} {lit(bound)}")
    return " AND ".join(parts)


def _whole(r: Range) -> tuple[int | None, int | None]:
    """Inclusive whole-number bounds of a range (of days or years)."""
    low = [math.ceil(r.min)] if r.min is not None else []
    low += [math.floor(r.gt) + 1] if r.gt is not None else []
    high = [math.floor(r.max)] if r.max is not None else []
    high += [math.ceil(r.lt) - 1] if r.lt is not None else []
    return (max(low) if low else None), (min(high) if high else None)


def _match(expr: str, m: Match) -> str:
    """A test of a text value (a column or a JSON property); numbers compare as numbers."""
    parts = []
    if m.exists is not None:
        parts.append(f"{expr} IS {'NOT ' if m.exists else ''}NULL")
    if m.eq is not None:
        parts.append(_eq(expr, m.eq))
    if m.in_ is not None:
        parts.append("(" + " OR ".join(_eq(expr, v) for v in m.in_) + ")")
    if m.numeric():
        parts.append(_range(f"TRY_CAST({expr} AS DOUBLE)", Range(min=m.min, max=m.max, gt=m.gt, lt=m.lt)))
    return " AND ".join(parts)


def _eq(expr: str, value: Scalar) -> str:
    if isinstance(value, bool):
        return f"LOWER({expr}) = {lit('true' if value else 'false')}"
    if isinstance(value, int | float):
        return f"TRY_CAST({expr} AS DOUBLE) = {lit(float(value))}"
    return f"{expr} = {lit(value)}"


def _prop(column: str, name: str) -> str:
    return f"json_extract_string({column}, {lit('$.' + name)})"


@dataclass
class _Plan:
    now: datetime
    ctes: list[tuple[str, str]] = field(default_factory=list)  # (name, body)
    joins: list[str] = field(default_factory=list)
    measures: list[tuple[str, str]] = field(default_factory=list)  # (label, expression)
    anchors: set[str] = field(default_factory=set)

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo("UTC")).date()

    def cte(self, body: str, label: str, columns: dict[str, str]) -> dict[str, str]:
        """Add ``body`` (grouped by customer_id) and its join; returns its measure expressions."""
        name = f"m{len(self.ctes)}"
        self.ctes.append((name, body))
        self.joins.append(f"LEFT JOIN {name} ON {name}.customer_id = c.customer_id")
        out = {}
        for key, default in columns.items():
            expr = f"COALESCE({name}.{key}, {default})" if default else f"{name}.{key}"
            self.measures.append((f"{label}.{key}", expr))
            out[key] = expr
        return out

    def anchor(self, name: str) -> str:
        if name not in self.anchors:
            agg, channel = _ANCHORS[name]
            where = " AND channel = " + lit(channel) if channel else ""
            self.ctes.append(
                (
                    f"anchor_{name}",
                    f"SELECT customer_id, {agg}(occurred_at) AS at FROM orders WHERE NOT refunded{where} GROUP BY customer_id",
                )
            )
            self.anchors.add(name)
        return f"anchor_{name}"

    def window(self, alias: str, w: a.Window) -> tuple[str, str]:
        """(join, where) limiting ``alias``'s rows to the window."""
        join, where = "", []
        if w.within_days is not None:
            where.append(f"{alias}.occurred_at > {ts_literal(self.now - timedelta(days=w.within_days))}")
        where.append(f"{alias}.occurred_at <= {ts_literal(self.now)}")
        if w.after is not None:
            anchor = self.anchor(w.after)
            join = f" JOIN {anchor} ON {anchor}.customer_id = {alias}.customer_id AND {alias}.occurred_at > {anchor}.at"
        return join, " AND ".join(where)


def _leaf(plan: _Plan, cond: Any, label: str) -> str:
    """The predicate of one condition, adding what it needs to the plan."""
    if isinstance(cond, a.AttributeCondition):
        plan.measures.append((label, _prop("c.attributes", cond.attribute.name)))
        return _match(_prop("c.attributes", cond.attribute.name), cond.attribute)
    if isinstance(cond, a.ProfileCondition):
        plan.measures.append((label, f"c.{cond.profile.field}"))
        return _match(f"c.{cond.profile.field}", cond.profile)
    if isinstance(cond, a.AgeCondition):
        return _age(plan, cond.age, label)
    if isinstance(cond, a.StepCondition):
        plan.measures.append((label, "c.step"))
        parts = ["c.step IN (" + ", ".join(lit(s) for s in cond.step.in_) + ")"]
        if cond.step.for_days is not None:
            low, high = _whole(cond.step.for_days)
            if low is not None:  # on it at least ``low`` days: since on or before today - low
                parts.append(f"c.step_since <= {lit((plan.today - timedelta(days=low)).isoformat())}")
            if high is not None:
                parts.append(f"c.step_since >= {lit((plan.today - timedelta(days=high)).isoformat())}")
        return " AND ".join(parts)
    if isinstance(cond, a.MovedCondition):
        m = cond.moved
        where = [
            f"occurred_at > {ts_literal(plan.now - timedelta(days=m.within_days))}",
            f"occurred_at <= {ts_literal(plan.now)}",
        ]
        if m.from_:
            where.append("from_step IN (" + ", ".join(lit(s) for s in m.from_) + ")")
        if m.to:
            where.append("to_step IN (" + ", ".join(lit(s) for s in m.to) + ")")
        got = plan.cte(
            f"SELECT customer_id, COUNT(*) AS moves FROM migrations WHERE {' AND '.join(where)} GROUP BY customer_id",
            label,
            {"moves": "0"},
        )
        return f"{got['moves']} >= 1"
    if isinstance(cond, a.ConsentCondition):
        got = plan.cte(
            f"SELECT customer_id, MAX(status) AS status FROM consents WHERE purpose = {lit(cond.consent.purpose)} "
            "GROUP BY customer_id",
            label,
            {"status": "'none'"},
        )
        return f"{got['status']} IN (" + ", ".join(lit(s) for s in cond.consent.status) + ")"
    if isinstance(cond, a.OrdersCondition):
        return _orders(plan, cond.orders, label)
    if isinstance(cond, a.EventsCondition):
        return _events(plan, cond.events, label)
    if isinstance(cond, a.EngagementCondition):
        e = cond.engagement
        got = plan.cte(
            f"SELECT customer_id, COUNT(DISTINCT message_id) AS mails FROM mails WHERE kind = {lit(e.kind)} "
            f"AND occurred_at > {ts_literal(plan.now - timedelta(days=e.within_days))} AND occurred_at <= {ts_literal(plan.now)} "
            "GROUP BY customer_id",
            label,
            {"mails": "0"},
        )
        return _range(got["mails"], e.count)
    if isinstance(cond, a.UnopenedCondition):
        n = cond.unopened.last
        got = plan.cte(
            "SELECT s.customer_id, COUNT(*) AS last_sent, COUNT(o.message_id) AS opened FROM ("
            "SELECT customer_id, message_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY occurred_at DESC) AS rn "
            f"FROM mails WHERE kind = 'sent' AND occurred_at <= {ts_literal(plan.now)}) AS s "
            "LEFT JOIN (SELECT DISTINCT message_id FROM mails WHERE kind = 'opened' "
            f"AND occurred_at <= {ts_literal(plan.now)}) AS o ON o.message_id = s.message_id "
            f"WHERE s.rn <= {n} GROUP BY s.customer_id",
            label,
            {"last_sent": "0", "opened": "0"},
        )
        return f"{got['last_sent']} >= {n} AND {got['opened']} = 0"
    if isinstance(cond, a.ClvCondition):
        got = plan.cte(f"SELECT customer_id, MAX({cond.clv.value}) AS value FROM clv GROUP BY customer_id", label, {"value": ""})
        return _range(got["value"], cond.clv.range)
    if isinstance(cond, a.OrderGapCondition):
        got = plan.cte(
            "SELECT customer_id, (MAX(occurred_s) - MIN(occurred_s)) / 86400.0 / (COUNT(*) - 1) AS gap_days "
            f"FROM orders WHERE NOT refunded AND occurred_at <= {ts_literal(plan.now)} GROUP BY customer_id HAVING COUNT(*) >= 2",
            label,
            {"gap_days": ""},
        )
        return _range(got["gap_days"], cond.order_gap_days)
    if isinstance(cond, a.BirthdayCondition):
        return _birthday(plan, cond.birthday.in_days, label)
    if isinstance(cond, a.DaysSinceCondition):
        agg = "MIN" if cond.days_since.order == "first" else "MAX"
        got = plan.cte(
            f"SELECT customer_id, CAST({agg}(occurred_at) AS DATE) AS day FROM orders "
            f"WHERE NOT refunded AND occurred_at <= {ts_literal(plan.now)} GROUP BY customer_id",
            label,
            {"day": ""},
        )
        low, high = _whole(cond.days_since.range)
        parts = [f"{got['day']} IS NOT NULL"]
        if low is not None:
            parts.append(f"{got['day']} <= {_day(plan.today - timedelta(days=low))}")
        if high is not None:
            parts.append(f"{got['day']} >= {_day(plan.today - timedelta(days=high))}")
        return " AND ".join(parts)
    if isinstance(cond, a.BookingCondition):
        b = cond.booking
        service = f" AND service = {lit(b.service)}" if b.service else ""
        got = plan.cte(
            f"SELECT customer_id, CAST(MIN(starts_at) AS DATE) AS day FROM bookings WHERE starts_at >= {ts_literal(plan.now)}"
            f"{service} GROUP BY customer_id",
            label,
            {"day": ""},
        )
        low, high = _whole(b.days_until)
        parts = [f"{got['day']} IS NOT NULL"]
        if low is not None:
            parts.append(f"{got['day']} >= {_day(plan.today + timedelta(days=low))}")
        if high is not None:
            parts.append(f"{got['day']} <= {_day(plan.today + timedelta(days=high))}")
        return " AND ".join(parts)
    raise TypeError(f"no compiler for {type(cond).__name__}")  # pragma: no cover - every kind has one


def _orders(plan: _Plan, o: a.Orders, label: str) -> str:
    items = o.category is not None or o.sku is not None
    table = "order_items" if items else "orders"
    join, window = plan.window("x", o.window)
    where = ["NOT x.refunded", window]
    for column, value in (("channel", o.channel), ("currency", o.currency), ("category", o.category), ("sku", o.sku)):
        if value is not None:
            where.append(f"x.{column} = {lit(value)}")
    amount = "x.amount" if items else "x.total"
    got = plan.cte(
        f"SELECT x.customer_id, COUNT(DISTINCT x.order_id) AS orders, SUM({amount}) AS total FROM {table} AS x{join} "
        f"WHERE {' AND '.join(where)} GROUP BY x.customer_id",
        label,
        {"orders": "0", "total": "0"},
    )
    parts = [_range(got["orders"], o.measured_count())]
    if o.total is not None:
        parts.append(_range(got["total"], o.total))
    return " AND ".join(parts)


def _events(plan: _Plan, e: a.Events, label: str) -> str:
    join, window = plan.window("x", e.window)
    where = [f"x.type = {lit(e.type)}", window]
    where += [_match(_prop("x.properties", name), m) for name, m in e.where.items()]
    got = plan.cte(
        f"SELECT x.customer_id, COUNT(DISTINCT x.event_id) AS events, COUNT(DISTINCT x.day) AS days FROM events AS x{join} "
        f"WHERE {' AND '.join(where)} GROUP BY x.customer_id",
        label,
        {"events": "0", "days": "0"},
    )
    parts = [_range(got["events"], e.measured_count())]
    if e.distinct_days is not None:
        parts.append(_range(got["days"], e.distinct_days))
    return " AND ".join(parts)


def _month_day(column: str) -> str:
    return f"SUBSTR({column}, LENGTH({column}) - 4)"  # MM-DD of YYYY-MM-DD and --MM-DD alike


def _age(plan: _Plan, r: Range, label: str) -> str:
    """Whole years today (UTC); a 29 February birthday counts on 28 February in non-leap years."""
    today = plan.today
    md = _month_day("c.birthday")
    leap_day = "'02-29'" if calendar.isleap(today.year) else "'02-28'"
    effective = f"CASE WHEN {md} = '02-29' THEN {leap_day} ELSE {md} END"
    age = (
        f"({today.year} - TRY_CAST(SUBSTR(c.birthday, 1, 4) AS INTEGER) - "
        f"CASE WHEN {lit(today.strftime('%m-%d'))} < {effective} THEN 1 ELSE 0 END)"
    )
    expr = f"CASE WHEN c.birthday LIKE '--%' THEN NULL ELSE {age} END"
    plan.measures.append((label, expr))
    return _range(expr, r)


def _local_days(utc_now: datetime, days: int) -> tuple[tuple[str, str, bool], ...]:
    """Per timezone whose date differs from UTC's now: (zone, target MM-DD, 29 Feb falls on it)."""
    rows = []
    utc_target = utc_now.date() + timedelta(days=days)
    for name in sorted(available_timezones()):
        target = utc_now.astimezone(ZoneInfo(name)).date() + timedelta(days=days)
        if target != utc_target:
            rows.append((name, target.strftime("%m-%d"), _feb29_on(target)))
    return tuple(rows)


def _feb29_on(day: date) -> bool:
    return day.month == 2 and day.day == 28 and yearly(2, 29, day.year) == day


def _birthday(plan: _Plan, days: int, label: str) -> str:
    """The birthday falls exactly ``days`` from today in the customer's timezone."""
    utc = plan.now.astimezone(ZoneInfo("UTC"))
    utc_target = utc.date() + timedelta(days=days)
    rows = _local_days(utc, days)
    md = _month_day("c.birthday")
    default = f"({md} = {lit(utc_target.strftime('%m-%d'))}" + (f" OR {md} = '02-29')" if _feb29_on(utc_target) else ")")
    if not rows:
        return default
    name = f"zones{len(plan.ctes)}"
    values = ", ".join(f"({lit(z)}, {lit(t)}, {lit(f)})" for z, t, f in rows)
    plan.ctes.append((name, f"SELECT * FROM (VALUES {values}) AS v(timezone, md, feb29)"))
    plan.joins.append(f"LEFT JOIN {name} ON {name}.timezone = c.timezone")
    plan.measures.append((label, f"COALESCE({name}.md, {lit(utc_target.strftime('%m-%d'))})"))
    own = f"({md} = {name}.md OR ({name}.feb29 AND {md} = '02-29'))"
    return f"CASE WHEN {name}.timezone IS NULL THEN {default} ELSE {own} END"


def _tree(plan: _Plan, node: Any, path: str) -> str:
    if isinstance(node, a.AllOf):
        return "(" + " AND ".join(_tree(plan, c, f"{path}.all.{i}") for i, c in enumerate(node.all)) + ")"
    if isinstance(node, a.AnyOf):
        return "(" + " OR ".join(_tree(plan, c, f"{path}.any.{i}") for i, c in enumerate(node.any)) + ")"
    if isinstance(node, a.NotOf):
        return f"(NOT {_tree(plan, node.not_, f'{path}.not')})"
    # two-valued: a condition on a missing value is false, and its negation true
    return f"COALESCE(({_leaf(plan, node, path)}), FALSE)"


@dataclass(frozen=True)
class Compiled:
    sql: str  # DuckDB's dialect: the embedded engine runs it as is
    measures: tuple[str, ...]  # the columns after customer_id: what qualified each member

    def for_athena(self, names: dict[str, str] | None = None) -> str:
        """The same query in Athena's dialect (Trino), transpiled, not written twice; the tables
        it reads renamed by ``names`` (a snapshot run's: ``services/audience_snapshot.run_tables``)."""
        tree = sqlglot.parse_one(self.sql, read="duckdb")
        if names:
            tree = sqlglot.exp.replace_tables(tree, names, copy=False)
        return tree.sql(dialect="athena")


def compile_audience(audience: a.Audience, now: datetime) -> Compiled:
    """The query that selects the audience's members at ``now`` (one row each: id and measures),
    in customer id order."""
    plan = _Plan(now)
    predicate = _tree(plan, audience.where, "where")
    with_ = "WITH " + ", ".join(f"{n} AS ({b})" for n, b in plan.ctes) + " " if plan.ctes else ""
    columns = "".join(f", {expr} AS {lit(label).replace(chr(39), chr(34))}" for label, expr in plan.measures)
    joins = " ".join(plan.joins)
    sql = " ".join(
        f"{with_}SELECT c.customer_id{columns} FROM customers AS c {joins} WHERE {predicate} ORDER BY c.customer_id".split()
    )
    parsed = sqlglot.parse(sql, read="duckdb")
    if len(parsed) != 1 or not isinstance(parsed[0], sqlglot.exp.Select):  # pragma: no cover - a compiler defect
        raise ValueError("the compiled audience is not one SELECT")
    return Compiled(sql=sql, measures=tuple(label for label, _ in plan.measures))
