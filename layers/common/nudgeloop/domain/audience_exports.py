# ruff: noqa: S608 - the query is built as text from the column catalogue below and a compiled
# audience (whose values pass through ``audience_sql.lit``); the request only picks catalogue names.
"""What an audience export may hold, and the one query that selects it (docs/audiences.md, exports).

An export is an audience's members with columns the marketer picks from ``COLUMNS`` (or a group
of them, ``GROUPS``: ``name``, ``address``, ``consent``, ``engagement``, ``clv``), in CSV or JSON
lines. The query wraps the compiled audience and joins only the tables the chosen columns read;
it is written once in DuckDB's dialect and transpiled for Athena with the audience itself
(``audience_sql.Compiled.for_athena``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nudgeloop.domain.events import ConsentChanged

if TYPE_CHECKING:  # the compiler (sqlglot) is imported where a query is built: off the API's cold start
    from nudgeloop.domain.audience_sql import Compiled

PURPOSES = get_args(ConsentChanged.model_fields["purpose"].annotation)

ENGAGEMENT_DAYS = 30  # the engagement columns count the mails of the last 30 days


@dataclass(frozen=True)
class Column:
    expression: str  # over m (the members), c (customers), k (consent), g (engagement), v (clv)
    kind: Literal["text", "number", "integer"]  # how JSON lines write it
    joins: str = ""  # the join the expression needs, by alias ("" for the members and customers)


def _address(field: str) -> str:
    return f"json_extract_string(c.address, '$.{field}')"


COLUMNS: dict[str, Column] = {
    "customer_id": Column("m.customer_id", "text"),
    "email": Column("c.email", "text"),
    "first_name": Column("c.first_name", "text"),
    "last_name": Column("c.last_name", "text"),
    "locale": Column("c.locale", "text"),
    "country": Column("c.country", "text"),
    "timezone": Column("c.timezone", "text"),
    "birthday": Column("c.birthday", "text"),
    "address_line1": Column(_address("line1"), "text"),
    "address_line2": Column(_address("line2"), "text"),
    "postal_code": Column("c.postal_code", "text"),
    "city": Column("c.city", "text"),
    "region": Column(_address("region"), "text"),
    # the address's country, else the customer's (events.PostalAddress)
    "address_country": Column(
        f"CASE WHEN c.address IS NULL THEN NULL ELSE COALESCE({_address('country')}, c.country) END", "text"
    ),
    "step": Column("c.step", "text"),
    "step_since": Column("c.step_since", "text"),
    **{f"consent_{p}": Column(f"k.{p}", "text", "k") for p in PURPOSES},  # latest statement: opt_in / opt_out
    "mails_sent_30d": Column("COALESCE(g.sent, 0)", "integer", "g"),
    "mails_opened_30d": Column("COALESCE(g.opened, 0)", "integer", "g"),
    "mails_clicked_30d": Column("COALESCE(g.clicked, 0)", "integer", "g"),
    "last_opened_at": Column("STRFTIME(g.last_opened_at, '%Y-%m-%dT%H:%M:%SZ')", "text", "g"),
    "clv_expected_value_12m": Column("v.expected_value_12m", "number", "v"),
    "clv_p_alive": Column("v.p_alive", "number", "v"),
    "clv_expected_purchases_90d": Column("v.expected_purchases_90d", "number", "v"),
}
GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("first_name", "last_name"),
    "address": ("address_line1", "address_line2", "postal_code", "city", "region", "address_country"),
    "consent": tuple(f"consent_{p}" for p in PURPOSES),
    "engagement": ("mails_sent_30d", "mails_opened_30d", "mails_clicked_30d", "last_opened_at"),
    "clv": ("clv_expected_value_12m", "clv_p_alive", "clv_expected_purchases_90d"),
}
DEFAULT_COLUMNS = ("customer_id", "email")
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}  # each its file extension, and its content type


class ExportRequest(BaseModel):
    """``POST /v1/audiences/{id}/exports``: the format and the columns (names or groups, in order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["csv", "jsonl"] = "csv"
    columns: Annotated[tuple[str, ...], Field(min_length=1, max_length=len(COLUMNS))] = DEFAULT_COLUMNS

    @field_validator("columns")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return expand(value)


class InvalidExport(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def expand(names: tuple[str, ...]) -> tuple[str, ...]:
    """Column names with groups replaced by their columns, each once, in the order asked;
    ``customer_id`` first whether asked or not (a row without its id is not an export of
    customers). Raises ValueError naming an unknown one."""
    out = ["customer_id"]
    for i, name in enumerate(names):
        if name in GROUPS:
            out += [c for c in GROUPS[name] if c not in out]
        elif name in COLUMNS:
            if name not in out:
                out.append(name)
        else:
            known = ", ".join([*COLUMNS, *GROUPS])
            raise ValueError(f"columns[{i}]: unknown column {name[:64]!r}; known: {known}")
    return tuple(out)


def parse_request(body: dict[str, Any]) -> ExportRequest:
    """The request, or InvalidExport naming the field that is wrong."""
    try:
        return ExportRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith("columns["):
            where, _, message = message.partition(": ")
        raise InvalidExport(where, message) from None


def _joins(needed: set[str], now: datetime) -> list[str]:
    from nudgeloop.domain.audience_sql import ts_literal

    joins = ["LEFT JOIN customers AS c ON c.customer_id = m.customer_id"]
    if "k" in needed:
        pivot = ", ".join(f"MAX(CASE WHEN purpose = '{p}' THEN status END) AS {p}" for p in PURPOSES)
        joins.append(
            f"LEFT JOIN (SELECT customer_id, {pivot} FROM consents GROUP BY customer_id) AS k ON k.customer_id = m.customer_id"
        )
    if "g" in needed:
        since, until = ts_literal(now - timedelta(days=ENGAGEMENT_DAYS)), ts_literal(now)
        recent = f"occurred_at > {since} AND occurred_at <= {until}"
        counts = ", ".join(
            f"COUNT(DISTINCT CASE WHEN kind = '{kind}' AND {recent} THEN message_id END) AS {kind}"
            for kind in ("sent", "opened", "clicked")
        )
        last_open = f"MAX(CASE WHEN kind = 'opened' AND occurred_at <= {until} THEN occurred_at END) AS last_opened_at"
        joins.append(
            f"LEFT JOIN (SELECT customer_id, {counts}, {last_open} FROM mails GROUP BY customer_id) AS g"
            " ON g.customer_id = m.customer_id"
        )
    if "v" in needed:
        joins.append("LEFT JOIN clv AS v ON v.customer_id = m.customer_id")
    return joins


def export_query(members: Compiled, columns: tuple[str, ...], now: datetime) -> Compiled:
    """The query of an export: one row per member (customer id order), the ``columns`` as named."""
    from nudgeloop.domain.audience_sql import Compiled

    chosen = [COLUMNS[name] for name in columns]
    selected = ", ".join(f'{column.expression} AS "{name}"' for name, column in zip(columns, chosen, strict=True))
    joins = " ".join(_joins({c.joins for c in chosen if c.joins}, now))
    sql = " ".join(f"SELECT {selected} FROM ({members.sql}) AS m {joins} ORDER BY m.customer_id".split())
    return Compiled(sql=sql, measures=())


def kinds(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(COLUMNS[name].kind for name in columns)
