"""Audience definitions evaluated on the embedded engine over data built so that a wrong
boundary changes the answer; the same SQL, transpiled, parses in Athena's dialect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from nudgeloop.domain.audience_sql import compile_audience
from nudgeloop.services import audiences
from nudgeloop_cli.local.audience_engine import DuckDBEngine

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class World:
    """Rows of the audience tables, built customer by customer."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self._ids = 0

    def _add(self, table: str, *row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def customer(self, cid: str, **profile: Any) -> World:
        attrs = profile.pop("attributes", {})
        self._add(
            "customers",
            cid,
            profile.get("email", f"{cid}@example.com"),
            None,
            None,
            profile.get("country"),
            profile.get("locale"),
            profile.get("timezone"),
            None,
            profile.get("birthday"),
            (profile.get("address") or {}).get("postal_code"),
            (profile.get("address") or {}).get("city"),
            json.dumps(profile["address"]) if profile.get("address") else None,
            json.dumps(attrs),
            profile.get("step", "prospect"),
            profile.get("step_since"),
        )
        return self

    def order(self, cid: str, at: datetime, total: float, *, channel: str = "webshop", currency: str = "EUR",
              refunded: bool = False, items: tuple[tuple[str, str, float], ...] = ()) -> World:  # fmt: skip
        self._ids += 1
        oid = f"o{self._ids}"
        self._add("orders", cid, oid, naive(at), int(at.timestamp()), channel, currency, total, refunded)
        for sku, category, price in items:
            self._add("order_items", cid, oid, naive(at), channel, currency, sku, category, 1, price, refunded)
        self.event(cid, "order.completed", at, order_id=oid, total=total, channel=channel)
        return self

    def event(self, cid: str, type_: str, at: datetime, **props: Any) -> World:
        self._ids += 1
        self._add("events", cid, f"e{self._ids}", type_, naive(at), naive(at).date().isoformat(), json.dumps(props))
        return self

    def consent(self, cid: str, purpose: str, status: str) -> World:
        self._add("consents", cid, purpose, status, naive(NOW - timedelta(days=1)))
        return self

    def mail(self, cid: str, message: str, kind: str, at: datetime) -> World:
        self._add("mails", cid, message, kind, naive(at))
        return self

    def clv(self, cid: str, value: float, p_alive: float = 0.5) -> World:
        self._add("clv", cid, value, p_alive, 1.0)
        return self

    def migration(self, cid: str, from_: str, to: str, at: datetime) -> World:
        self._add("migrations", cid, from_, to, naive(at))
        return self

    def booking(self, cid: str, starts: datetime, service: str = "inspection") -> World:
        self._add("bookings", cid, f"b{cid}", service, naive(starts))
        return self

    def members(self, definition: dict[str, Any] | str, now: datetime = NOW) -> list[str]:
        text = definition if isinstance(definition, str) else json.dumps({"id": "t", "name": "t", "where": definition})
        audience = audiences.parse(text)
        _athena_parses(audience, now)
        return audiences.evaluate(audience, DuckDBEngine(self.rows), now).ids()


def _athena_parses(audience: Any, now: datetime) -> None:
    athena = compile_audience(audience, now).for_athena()
    assert isinstance(sqlglot.parse_one(athena, read="athena"), sqlglot.exp.Select)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


# ---------------------------------------------------------------- each condition kind


def test_attributes_match_by_equality_sets_and_numeric_ranges() -> None:
    w = World().customer("gold", attributes={"tier": "gold", "score": 7}).customer("silver", attributes={"tier": "silver"})
    w.customer("seven-and-a-half", attributes={"score": 7.5}).customer("none")
    assert w.members({"attribute": {"name": "tier", "eq": "gold"}}) == ["gold"]
    assert w.members({"attribute": {"name": "tier", "in": ["gold", "silver"]}}) == ["gold", "silver"]
    assert w.members({"attribute": {"name": "score", "max": 7}}) == ["gold"]
    assert w.members({"attribute": {"name": "score", "gt": 7}}) == ["seven-and-a-half"]
    assert w.members({"not": {"attribute": {"name": "tier", "exists": True}}}) == ["none", "seven-and-a-half"]


def test_profile_fields() -> None:
    w = World().customer("de", country="DE").customer("at", country="AT").customer("unknown")
    assert w.members({"profile": {"field": "country", "in": ["DE", "CH"]}}) == ["de"]
    assert w.members({"not": {"profile": {"field": "country", "eq": "DE"}}}) == ["at", "unknown"]


def test_age_in_whole_years_today_with_its_boundaries() -> None:
    w = World()
    for cid, birthday in (
        ("35-today", "1991-12-01"),  # 35 today: in
        ("36-today", "1990-12-01"),  # 36 today: out
        ("34-till-tomorrow", "1991-12-02"),  # turns 35 tomorrow: still 34, in
        ("24-till-tomorrow", "2001-12-02"),  # out
        ("25-today", "2001-12-01"),  # in
        ("no-year", "--06-01"),  # no age: out
    ):
        w.customer(cid, birthday=birthday)
    assert w.members({"age": {"min": 25, "max": 35}}) == ["25-today", "34-till-tomorrow", "35-today"]


def test_a_leap_day_birthday_counts_on_28_february_in_other_years() -> None:
    w = World().customer("leapling", birthday="2000-02-29")
    exactly = {"age": {"min": 27, "max": 27}}
    assert w.members(exactly, datetime(2027, 2, 28, 9, tzinfo=UTC)) == ["leapling"]
    assert w.members(exactly, datetime(2027, 2, 27, 9, tzinfo=UTC)) == []


def test_step_and_days_on_it() -> None:
    w = World().customer("thirty", step="active", step_since="2026-11-01").customer("29", step="active", step_since="2026-11-02")
    w.customer("vip", step="vip", step_since="2026-01-01")
    assert w.members({"step": {"in": ["active", "vip"]}}) == ["29", "thirty", "vip"]
    assert w.members({"step": {"in": ["active"], "for_days": {"min": 30}}}) == ["thirty"]


def test_moves_on_the_staircase_within_a_window() -> None:
    w = World().customer("recent").customer("old").customer("other")
    w.migration("recent", "active", "at_risk", ago(days=6)).migration("old", "active", "at_risk", ago(days=8))
    w.migration("other", "new", "active", ago(days=1))
    assert w.members({"moved": {"to": ["at_risk"], "within_days": 7}}) == ["recent"]
    assert w.members({"moved": {"from": ["new", "active"], "within_days": 7}}) == ["other", "recent"]


def test_consent_is_the_latest_statement_or_none() -> None:
    w = World().customer("in").customer("out").customer("never")
    w.consent("in", "newsletter", "opt_in").consent("out", "newsletter", "opt_out").consent("never", "marketing", "opt_in")
    assert w.members({"consent": {"purpose": "newsletter", "status": ["opt_in"]}}) == ["in"]
    assert w.members({"consent": {"purpose": "newsletter", "status": ["none", "opt_out"]}}) == ["never", "out"]


def test_orders_count_and_sum_by_channel_currency_category_and_window_without_refunds() -> None:
    w = World().customer("store").customer("refunded").customer("old").customer("usd").customer("tea")
    w.order("store", ago(days=10), 30, channel="store").order("store", ago(days=183, hours=-1), 25, channel="store")
    w.order("refunded", ago(days=5), 100, channel="store", refunded=True)
    w.order("old", ago(days=184), 100, channel="store")
    w.order("usd", ago(days=5), 100, channel="store", currency="USD")
    w.order("tea", ago(days=3), 9, items=(("t-1", "tea", 5.0), ("c-1", "coffee", 4.0)))
    store_eur = {"channel": "store", "currency": "EUR", "window": {"within_days": 183}}
    assert w.members({"orders": {**store_eur, "total": {"min": 55}}}) == ["store"]
    assert w.members({"orders": {**store_eur, "total": {"min": 55.01}}}) == []
    assert w.members({"orders": {**store_eur, "count": {"min": 2}}}) == ["store"]
    assert w.members({"orders": {"channel": "store"}}) == ["old", "store", "usd"]  # the refunded one does not count
    assert w.members({"orders": {"category": "tea", "total": {"max": 5}}}) == ["tea"]  # the tea items' sum alone


def test_events_with_property_thresholds_distinct_days_and_an_anchor() -> None:
    w = World().customer("long").customer("short").customer("no-sku").customer("days")
    w.event("long", "page.viewed", ago(days=1), sku="s", seconds=21).event(
        "short", "page.viewed", ago(days=1), sku="s", seconds=20
    )
    w.event("no-sku", "page.viewed", ago(days=1), seconds=300)
    w.order("days", ago(days=10), 60, channel="store")
    w.event("days", "page.viewed", ago(days=11)).event("days", "page.viewed", ago(days=2)).event(
        "days", "page.viewed", ago(days=2)
    )
    product = {"type": "page.viewed", "where": {"sku": {"exists": True}, "seconds": {"gt": 20}}}
    assert w.members({"events": product}) == ["long"]
    after = {"type": "page.viewed", "window": {"after": "latest_store_order"}}
    assert w.members({"events": {**after, "distinct_days": {"min": 1}}}) == ["days"]
    assert w.members({"events": {**after, "distinct_days": {"min": 2}}}) == []  # two views, one day
    assert w.members({"events": {"type": "page.viewed", "count": {"min": 3}}}) == ["days"]


def test_engagement_and_none_of_the_last_mails_opened() -> None:
    w = World().customer("opener").customer("cold").customer("new").customer("warm")
    for i in range(3):
        w.mail("cold", f"c{i}", "sent", ago(days=10 + i))
        w.mail("warm", f"w{i}", "sent", ago(days=10 + i))
    w.mail("warm", "w2", "opened", ago(days=9))  # the oldest of the last three
    w.mail("opener", "o1", "sent", ago(days=40)).mail("opener", "o1", "opened", ago(days=29))
    w.mail("new", "n1", "sent", ago(days=1))
    assert w.members({"engagement": {"kind": "opened", "within_days": 30}}) == ["opener", "warm"]
    assert w.members({"engagement": {"kind": "opened", "within_days": 28}}) == ["warm"]
    assert w.members({"unopened": {"last": 3}}) == ["cold"]  # "new" has had one mail only


def test_computed_values_clv_and_order_gap() -> None:
    w = World().customer("high").customer("edge").customer("unfit").customer("ten").customer("nine")
    w.clv("high", 100.5).clv("edge", 100.0)
    w.order("ten", ago(days=30), 1).order("ten", ago(days=20), 1).order("nine", ago(days=30), 1).order("nine", ago(days=21), 1)
    assert w.members({"clv": {"value": "expected_value_12m", "range": {"gt": 100}}}) == ["high"]
    assert w.members({"not": {"clv": {"value": "expected_value_12m", "range": {"gt": 100}}}}) == [
        "edge", "nine", "ten", "unfit",
    ]  # fmt: skip
    assert w.members({"order_gap_days": {"min": 10}}) == ["ten"]


def test_birthday_in_exactly_n_days_in_the_customers_timezone() -> None:
    w = World().customer("utc", birthday="1990-12-08", timezone="UTC").customer("late", birthday="--12-09")
    w.customer("kiritimati", birthday="1985-12-09", timezone="Pacific/Kiritimati")  # UTC+14: already 2 December
    assert w.members({"birthday": {"in_days": 7}}) == ["kiritimati", "utc"]
    assert w.members({"birthday": {"in_days": 8}}) == ["late"]


def test_a_leap_day_birthday_is_celebrated_on_28_february() -> None:
    w = World().customer("leapling", birthday="2000-02-29", timezone="Europe/Berlin")
    assert w.members({"birthday": {"in_days": 7}}, datetime(2027, 2, 21, 9, tzinfo=UTC)) == ["leapling"]
    assert w.members({"birthday": {"in_days": 7}}, datetime(2028, 2, 21, 9, tzinfo=UTC)) == []  # 2028 has a 29th
    assert w.members({"birthday": {"in_days": 8}}, datetime(2028, 2, 21, 9, tzinfo=UTC)) == ["leapling"]


def test_days_since_an_order_and_until_a_booking() -> None:
    w = World().customer("thirty").customer("31").customer("soon").customer("later")
    w.order("thirty", ago(days=30), 10).order("31", ago(days=31), 10)
    w.booking("soon", NOW + timedelta(days=2)).booking("later", NOW + timedelta(days=3))
    assert w.members({"days_since": {"order": "latest", "range": {"max": 30}}}) == ["thirty"]
    assert w.members({"booking": {"days_until": {"min": 1, "max": 2}}}) == ["soon"]


def test_all_any_and_not_combine_conditions() -> None:
    w = World().customer("de-gold", country="DE", attributes={"tier": "gold"}).customer("de", country="DE")
    w.customer("at-gold", country="AT", attributes={"tier": "gold"})
    de = {"profile": {"field": "country", "eq": "DE"}}
    gold = {"attribute": {"name": "tier", "eq": "gold"}}
    assert w.members({"all": [de, gold]}) == ["de-gold"]
    assert w.members({"any": [de, gold]}) == ["at-gold", "de", "de-gold"]
    assert w.members({"all": [de, {"not": gold}]}) == ["de"]


def test_a_wrong_definition_names_its_line_and_field() -> None:
    with pytest.raises(audiences.InvalidAudience) as bad:
        audiences.parse("id: x\nname: x\nwhere:\n  orders:\n    chanel: store\n")
    assert bad.value.line == 5 and "chanel" in bad.value.field
    with pytest.raises(audiences.InvalidAudience, match="a condition is one of"):
        audiences.parse("id: x\nname: x\nwhere:\n  purchases: {}\n")
    with pytest.raises(audiences.InvalidAudience, match=r"string_pattern_mismatch|should match"):
        audiences.parse('id: x\nname: x\nwhere:\n  attribute: {name: "a\'; DROP TABLE customers; --", eq: 1}\n')


def test_values_a_customer_cannot_choose_stay_values_in_the_sql() -> None:
    w = World().customer("quote", attributes={"note": "it's"}).customer("other", attributes={"note": "x' OR '1'='1"})
    assert w.members({"attribute": {"name": "note", "eq": "it's"}}) == ["quote"]
    assert w.members({"attribute": {"name": "note", "eq": "x' OR '1'='1"}}) == ["other"]


# ---------------------------------------------------------------- the shipped examples


def example(name: str) -> str:
    return (ROOT / "audiences" / "examples" / f"{name}.yaml").read_text()


def test_the_shipped_examples_have_their_ids() -> None:
    found = {audiences.parse(p.read_text()).id for p in (ROOT / "audiences" / "examples").glob("*.yaml")}
    assert found == {
        "tea-buyers", "lapsed-browsers", "young-store-spenders", "high-value", "birthday-next-week", "newsletter-subscribers",
    }  # fmt: skip


def test_tea_buyers() -> None:
    w = World().customer("tea").customer("refunded").customer("coffee")
    w.order("tea", ago(days=900), 5, items=(("t", "tea", 5.0),))
    w.order("refunded", ago(days=5), 5, items=(("t", "tea", 5.0),), refunded=True)
    w.order("coffee", ago(days=5), 5, items=(("c", "coffee", 5.0),))
    assert w.members(example("tea-buyers")) == ["tea"]


def test_lapsed_browsers() -> None:
    w = World()
    for cid in ("never-ordered", "ordered-184", "ordered-182", "twenty-seconds", "old-view", "no-sku"):
        w.customer(cid)
    view = {"sku": "s1", "seconds": 21}
    w.event("never-ordered", "page.viewed", ago(days=10), **view)
    w.order("ordered-184", ago(days=184), 10).event("ordered-184", "page.viewed", ago(days=10), **view)
    w.order("ordered-182", ago(days=182), 10).event("ordered-182", "page.viewed", ago(days=10), **view)
    w.event("twenty-seconds", "page.viewed", ago(days=10), sku="s1", seconds=20)
    w.event("old-view", "page.viewed", ago(days=184), **view)
    w.event("no-sku", "page.viewed", ago(days=10), seconds=99)
    assert w.members(example("lapsed-browsers")) == ["never-ordered", "ordered-184"]


def test_young_store_spenders() -> None:
    w = World()
    for cid, birthday in (
        ("fits", "1991-12-01"),
        ("thirty-six", "1990-12-01"),
        ("refund", "1995-05-05"),
        ("one-day", "1995-05-05"),
    ):
        w.customer(cid, birthday=birthday)
    for cid in ("fits", "thirty-six", "one-day"):
        w.order(cid, ago(days=30), 50, channel="store")
        w.event(cid, "page.viewed", ago(days=20)).event(cid, "page.viewed", ago(days=31))  # one before the order
    w.event("fits", "page.viewed", ago(days=10)).event("thirty-six", "page.viewed", ago(days=10))
    w.order("refund", ago(days=30), 30, channel="store").order("refund", ago(days=29), 30, channel="store", refunded=True)
    w.event("refund", "page.viewed", ago(days=20)).event("refund", "page.viewed", ago(days=10))
    assert w.members(example("young-store-spenders")) == ["fits"]


def test_high_value() -> None:
    w = World().customer("a").customer("b").customer("c")
    w.clv("a", 101).clv("b", 100)
    assert w.members(example("high-value")) == ["a"]


def test_birthday_next_week() -> None:
    w = World().customer("seven", birthday="1980-12-08", timezone="Europe/Berlin").customer("six", birthday="1980-12-07")
    assert w.members(example("birthday-next-week")) == ["seven"]


def test_newsletter_subscribers() -> None:
    w = World().customer("in").customer("out").customer("pending").customer("silent")
    w.consent("in", "newsletter", "opt_in").consent("out", "newsletter", "opt_out").consent("pending", "newsletter", "pending")
    assert w.members(example("newsletter-subscribers")) == ["in"]


def test_a_preview_shows_what_qualified_each_member() -> None:
    w = World().customer("fits", birthday="1991-12-01")
    w.order("fits", ago(days=30), 50, channel="store").event("fits", "page.viewed", ago(days=20)).event(
        "fits", "page.viewed", ago(days=10)
    )
    found = audiences.evaluate(audiences.parse(example("young-store-spenders")), DuckDBEngine(w.rows), NOW)
    assert found.count == 1
    assert found.members[0].qualified_by == {
        "where.all.0": 35,
        "where.all.1.orders": 1,
        "where.all.1.total": 50.0,
        "where.all.2.events": 2,
        "where.all.2.days": 2,
    }


def test_the_published_schema_is_the_models() -> None:
    published = json.loads((ROOT / "docs" / "audience.schema.json").read_text())
    assert published == audiences.json_schema(), "run `nudgeloop audiences schema > docs/audience.schema.json`"
