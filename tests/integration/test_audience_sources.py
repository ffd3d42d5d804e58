"""The audience tables derived in SQL from the raw objects (the event archive, DynamoDB's exports;
``domain/audience_sources``) hold what the Python read of the tables holds
(``services/audience_tables``), row for row; the derivations parse as Athena SQL; and the
shipped audiences find the same members either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlglot

from tests.conftest import consent, order, post_events, upsert

ROOT = Path(__file__).resolve().parents[2]


def _workload(stack: Any) -> None:
    refund = {
        "event_id": "refund-a1-o2",
        "type": "order.refunded",
        "customer_id": "a1",
        "occurred_at": "2025-12-31T12:00:00Z",
        "properties": {"order_id": "o2"},
    }
    restated = order("a1", "o1", total="30.00") | {"event_id": "ord-a1-o1-again"}  # the later statement counts
    store = order("a2", "o1", total="60.00")
    store["properties"] |= {"channel": "store", "items": [{"sku": "TEA-1", "category": "tea", "quantity": 2, "price": "30.00"}]}
    view = {
        "event_id": "view-a2",
        "type": "page.viewed",
        "customer_id": "a2",
        "occurred_at": "2025-12-31T11:00:00Z",
        "properties": {"url": "https://shop.example/p/tea", "sku": "TEA-1", "seconds": 25},
    }
    booking = {
        "event_id": "book-a3",
        "type": "service.booked",
        "customer_id": "a3",
        "occurred_at": "2025-12-31T08:30:00Z",
        "properties": {
            "booking_id": "b-1",
            "service": "hotel stay",
            "starts_at": "2026-01-06T15:00:00Z",
            "ends_at": "2026-01-09T10:00:00Z",
        },
    }
    profile = upsert(
        "a1",
        birthday="1990-04-02",
        country="DE",
        timezone="Europe/Berlin",
        attributes={"tier": "gold", "visits": 3},
        address={"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
    )
    post_events(stack, [profile, consent("a1"), consent("a1", purpose="marketing", status="opt_out"), upsert("a2"), upsert("a3")])
    post_events(stack, [order("a1", "o1"), order("a1", "o2", at="2025-12-31T11:00:00Z"), refund, store, view, booking])
    stack.settle()
    post_events(stack, [restated])
    stack.settle()
    mails = [m for m in stack.outbox() if m["customer_id"] == "a1"]
    assert mails, "the welcome mail: its feedback events are mails rows"
    stack.emit_ses_event(mails[0]["message_id"], "Open")
    from nudgeloop.dal import insights

    with stack.aws_lock:  # what the weekly CLV fit stores (too few customers here for a fit of its own)
        values = {"a1": {"expected_value_12m": 120.5, "p_alive": 0.8, "expected_purchases_90d": 1.25}}
        insights.save_clv(
            values | {"a2": {"expected_value_12m": 40.0, "p_alive": 0.5, "expected_purchases_90d": 0.3}}, {"r": 0.2}
        )
    stack.settle()


def _raw_engine(stack: Any, tmp_path: Path) -> Any:
    from nudgeloop_cli.local.audience_engine import from_stack

    return from_stack(stack, tmp_path, run="run-1")


def _normal(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    from nudgeloop.domain.audience_schema import TABLES

    json_columns = {"address", "attributes", "properties"}
    names = [c for c, _ in TABLES[table]]
    out = []
    for row in rows:
        values = []
        for name, given in zip(names, row, strict=True):
            value = given
            if name in json_columns and value is not None:
                value = json.dumps(json.loads(value), sort_keys=True)
            elif isinstance(value, float):
                value = round(value, 6)
            values.append(value)
        out.append(tuple(values))
    return sorted(out, key=repr)


def test_the_tables_derived_from_the_raw_objects_are_the_tables_read_from_the_stack(stack: Any, tmp_path: Path) -> None:
    from nudgeloop.domain.audience_schema import TABLES
    from nudgeloop.services import audience_tables

    _workload(stack)
    with stack.aws_lock:
        expected = audience_tables.snapshot()
    engine = _raw_engine(stack, tmp_path)
    try:
        for table in TABLES:
            derived = engine.run(f"SELECT * FROM {table}")  # noqa: S608 - the schema's names
            assert _normal(table, derived) == _normal(table, expected[table]), table
            assert expected[table], f"{table}: the workload leaves it empty"
        from nudgeloop.services import audiences
        from nudgeloop_cli.local.audience_engine import DuckDBEngine

        python_side = DuckDBEngine(expected)
        found = {}
        try:
            for path in sorted((ROOT / "audiences" / "examples").glob("*.yaml")):
                audience = audiences.parse(path.read_text())
                found[audience.id] = audiences.evaluate(audience, engine).ids()
                assert found[audience.id] == audiences.evaluate(audience, python_side).ids(), path.name
        finally:
            python_side.close()
        assert (found["tea-buyers"], found["high-value"], found["newsletter-subscribers"]) == (["a2"], ["a1"], ["a1"])
    finally:
        engine.close()


def test_every_derivation_is_athena_sql() -> None:
    from nudgeloop.domain import audience_sources

    for table in audience_sources.order():
        athena = audience_sources.derivation(table, "athena")
        parsed = sqlglot.parse(athena, read="athena")
        assert len(parsed) == 1 and isinstance(parsed[0], sqlglot.exp.Select | sqlglot.exp.Union), table
        assert "json_extract_string" not in athena.lower()  # DuckDB's name: Athena's is JSON_EXTRACT_SCALAR
