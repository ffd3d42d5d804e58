"""The events-stream consumer's call pattern: a batch's customers read together, a new customer
placed without reading a history that cannot hold an applied order, and either saving giving the
same customers as reading one at a time."""

from __future__ import annotations

from typing import Any

from tests.conftest import get_customer, order, post_events, upsert


def _record(stack: Any, customer_id: str, event_id: str) -> dict[str, Any]:
    """The stream record of a stored event, as the stream delivers it."""
    from nudgeloop.adapters.aws import client

    item = client("dynamodb").get_item(
        TableName=stack.catalog.table("events").name, Key={"customer_id": {"S": customer_id}, "event_id": {"S": event_id}}
    )["Item"]
    keys = {"customer_id": item["customer_id"], "event_id": item["event_id"]}
    return {
        "eventID": event_id,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {"Keys": keys, "NewImage": item, "SequenceNumber": "1", "StreamViewType": "NEW_IMAGE"},
    }


def _counting(monkeypatch: Any) -> dict[str, int]:
    from botocore.client import BaseClient

    counts: dict[str, int] = {}
    inner = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        counts[operation] = counts.get(operation, 0) + 1
        return inner(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return counts


def test_a_batch_reads_its_customers_together_and_each_once(stack, monkeypatch) -> None:
    post_events(stack, [upsert(f"b{n}") for n in range(5)] + [order(f"b{n}", "o1") for n in range(5)])
    stack.settle()
    post_events(stack, [order(f"b{n}", "o2", at="2025-12-31T11:00:00Z") for n in range(5)])
    records = [_record(stack, f"b{n}", f"ord-b{n}-o2") for n in range(5)]
    records.append(_record(stack, "b0", "ord-b0-o1"))  # the same customer again, in the same batch
    counts = _counting(monkeypatch)
    assert stack.call("ingest_process", {"Records": records}) == {"batchItemFailures": []}
    assert counts.get("BatchGetItem") == 1
    assert counts.get("GetItem", 0) == 1  # the second event of b0 reads b0 again: the first saved it
    for n in range(5):
        assert get_customer(stack, f"b{n}")[1]["aggregates"]["orders"] == 2


def test_customers_not_read_together_are_read_one_at_a_time(stack, monkeypatch) -> None:
    from nudgeloop.dal import customer_store

    def refused(_ids: set[str]) -> dict[str, Any]:
        raise RuntimeError("BatchGetItem refused")

    monkeypatch.setattr(customer_store, "get_customers", refused)
    post_events(stack, [upsert("g1"), order("g1", "o1"), order("g2", "o1")])
    stack.settle()
    assert stack.failures == []
    assert get_customer(stack, "g1")[1]["aggregates"]["orders"] == 1
    assert get_customer(stack, "g2")[1]["aggregates"]["orders"] == 1


def test_a_profile_applied_before_its_stored_orders_is_placed_by_them(stack, monkeypatch) -> None:
    """Stream order holds per item, not per customer: a profile may be applied while the
    customer's order is stored and not yet applied. The profile creates the customer without a
    history read (no order of theirs can have been applied yet); the order places them."""
    from nudgeloop.dal import customer_store, event_log

    post_events(stack, [order("p1", "o1"), upsert("p1")])
    counts = _counting(monkeypatch)
    assert stack.call("ingest_process", {"Records": [_record(stack, "p1", "up-p1-2025-12-31T08:00:00Z")]}) == {
        "batchItemFailures": []
    }
    assert counts.get("Query", 0) == 0  # a new customer's profile: no history read
    assert customer_store.get_customer("p1").step == "prospect"
    stack.settle()  # the order's record, and the profile's again (at least once)
    customer = customer_store.get_customer("p1")
    assert customer.step == "new"
    assert get_customer(stack, "p1")[1]["aggregates"]["orders"] == 1
    moves = [(e.properties["from"], e.properties["to"]) for e in event_log.customer_events("p1") if e.type == "segment.migrated"]
    assert moves == [("prospect", "new")]


def test_migrations_are_saved_with_their_customers_and_published_ten_to_a_call(stack, monkeypatch) -> None:
    """Each first order moves its customer with one transaction (customer and history entry);
    the entries come back on the stream and are published together, ten to a PutEvents."""
    from nudgeloop.dal import event_log
    from nudgeloop.domain import idempotency

    post_events(stack, [upsert(f"m{n}") for n in range(12)])
    stack.settle()
    post_events(stack, [order(f"m{n}", "o1") for n in range(12)])
    counts = _counting(monkeypatch)
    orders = [_record(stack, f"m{n}", f"ord-m{n}-o1") for n in range(12)]
    assert stack.call("ingest_process", {"Records": orders}) == {"batchItemFailures": []}
    assert (counts.get("TransactWriteItems"), counts.get("PutEvents", 0)) == (12, 0)  # saved, not yet published
    entry = idempotency.migration_event_id(stack.clock.now().date().isoformat(), "prospect", "new")
    counts.clear()
    assert stack.call("ingest_process", {"Records": [_record(stack, f"m{n}", entry) for n in range(12)]}) == {
        "batchItemFailures": []
    }
    assert counts.get("PutEvents") == 2  # 12 migrations, ten to a call
    for n in range(12):
        moves = [e.properties for e in event_log.customer_events(f"m{n}") if e.type == "segment.migrated"]
        assert [(m["from"], m["to"], m["correlation_id"]) for m in moves] == [("prospect", "new", f"ord-m{n}-o1")]


def test_a_stream_skipped_to_its_end_delivers_only_what_is_written_after(stack) -> None:
    """``Pumps.skip_streams``: every consumer starts after the records held now, as a mapping
    created with StartingPosition LATEST (for history a bench loads as long applied)."""
    post_events(stack, [upsert("s1"), order("s1", "o1")])
    stack.pumps.skip_streams()
    stack.settle()
    assert get_customer(stack, "s1")[0] == 404
    post_events(stack, [upsert("s2")])
    stack.settle()
    assert get_customer(stack, "s2")[0] == 200
    assert get_customer(stack, "s1")[0] == 404
