"""Response management through the API handler and the processor, on moto."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import consent, get_customer, order, post_events, upsert

ROOT = Path(__file__).resolve().parents[2]


def test_accepts_valid_events_and_reports_rejections_by_index(stack) -> None:
    status, body = post_events(
        stack, [upsert("c1"), {"type": "nope", "customer_id": "c1", "occurred_at": "2026-01-01T00:00:00Z"}]
    )
    assert status == 202
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "field": "events[1].type", "reason": "unknown event type: nope"}]
    stack.settle()
    status, customer = get_customer(stack, "c1")
    assert status == 200
    assert customer["profile"] == {"email": "c1@customers.example", "first_name": "Ada"}
    assert customer["segment"] == "prospect"


def test_bad_requests_are_4xx_json_naming_the_field(stack) -> None:
    for body, status, field in [
        ("{oops", 400, "body"),
        (json.dumps({"events": [{}] * 101}), 413, "events"),
        (json.dumps({"wrong": []}), 400, "events"),
    ]:
        got, _h, raw = stack.api("POST", "/v1/events", headers={"x-api-key": "local-admin-key-for-development"}, body=body)
        assert got == status
        assert json.loads(raw)["error"]["field"] == field


def test_throttled_storage_is_a_retryable_503(stack, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from nudgeloop.dal import event_log

    def throttled(event):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem")

    monkeypatch.setattr(event_log, "store_event", throttled)
    status, body = post_events(stack, [upsert("c1")])
    assert status == 503
    assert "retry" in body["error"]["reason"]
    assert not [f for f in stack.failures if f["function"] == "ingest_api"]


def test_an_unexpected_failure_is_a_function_error_not_a_quiet_503(stack, monkeypatch) -> None:
    """It reaches Lambda's Errors metric (and its alarm); API Gateway answers 502."""
    from nudgeloop.dal import event_log

    def broken(event):
        raise RuntimeError("a defect")

    monkeypatch.setattr(event_log, "store_event", broken)
    status, body = post_events(stack, [upsert("c1")])
    assert (status, body) == (502, {"message": "Internal server error"})
    assert [f["error"] for f in stack.failures if f["function"] == "ingest_api"] == ["RuntimeError"]


def test_unknown_api_key_is_refused_before_the_handler(stack) -> None:
    status, _ = post_events(stack, [upsert("c1")], key={"x-api-key": "wrong"})
    assert status == 403
    assert stack.counters.get("ingest_api", 0) == 0


def test_unknown_customer_is_404(stack) -> None:
    status, body = get_customer(stack, "nobody")
    assert status == 404 and body["error"]["field"] == "customer_id"


def test_duplicates_are_stored_once_and_never_double_count(stack) -> None:
    events = [upsert("c1"), order("c1", "o1", total="40.00")]
    post_events(stack, events)
    stack.settle()
    status, body = post_events(stack, [*events, order("c1", "o1", total="40.00")])
    assert (status, body["accepted"], body["duplicates"]) == (202, 0, 3)
    # the same order again under a new event id (a client retry that lost its id) is an upsert
    post_events(stack, [{**order("c1", "o1", total="40.00"), "event_id": "another-id"}])
    stack.settle()
    _s, customer = get_customer(stack, "c1")
    assert customer["aggregates"]["orders"] == 1
    assert customer["aggregates"]["revenue"] == 40.0


def test_redelivered_stream_records_change_nothing(stack) -> None:
    post_events(stack, [upsert("c1"), order("c1", "o1")])
    stack.settle()
    from nudgeloop.adapters.aws import client

    item = client("dynamodb").get_item(
        TableName=stack.catalog.table("events").name, Key={"customer_id": {"S": "c1"}, "event_id": {"S": "ord-c1-o1"}}
    )["Item"]
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "Keys": {"customer_id": item["customer_id"], "event_id": item["event_id"]},
            "NewImage": item,
            "SequenceNumber": "1",
            "StreamViewType": "NEW_IMAGE",
        },
    }
    for _ in range(2):  # at-least-once delivery: the same record twice
        assert stack.call("ingest_process", {"Records": [record]}) == {"batchItemFailures": []}
    stack.settle()
    _s, customer = get_customer(stack, "c1")
    assert customer["aggregates"]["orders"] == 1
    assert len(stack.outbox()) == 0  # no consent: nobody was mailed, also not twice


def test_concurrent_copies_are_stored_once(stack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post_events(stack, [order("c1", "o1")])[1], range(4)))
    assert sorted(a["accepted"] for a in answers) == [0, 0, 0, 1]
    stack.settle()
    assert get_customer(stack, "c1")[1]["aggregates"]["orders"] == 1


def test_out_of_order_events_follow_occurred_at(stack) -> None:
    post_events(stack, [upsert("c1"), order("c1", "late", at="2025-12-20T10:00:00Z")])
    post_events(stack, [order("c1", "early", at="2025-11-01T10:00:00Z")])
    post_events(stack, [consent("c1", "opt_out", at="2025-12-30T00:00:00Z")])
    post_events(stack, [consent("c1", "opt_in", at="2025-12-01T00:00:00Z")])  # older statement, arrives later
    post_events(stack, [upsert("c1", at="2025-01-01T00:00:00Z", first_name="Old")])
    stack.settle()
    _s, customer = get_customer(stack, "c1")
    assert customer["aggregates"]["first_order_at"] == "2025-11-01T10:00:00.000Z"
    assert customer["aggregates"]["last_order_at"] == "2025-12-20T10:00:00.000Z"
    assert customer["consents"]["newsletter"]["status"] == "opt_out"
    assert customer["profile"]["first_name"] == "Ada"


def test_refund_moves_the_customer_back(stack) -> None:
    post_events(stack, [upsert("c1"), order("c1", "o1")])
    stack.settle()
    assert get_customer(stack, "c1")[1]["segment"] == "new"
    post_events(
        stack,
        [
            {
                "event_id": "r1",
                "type": "order.refunded",
                "customer_id": "c1",
                "occurred_at": "2026-01-01T08:00:00Z",
                "properties": {"order_id": "o1"},
            }
        ],
    )
    stack.settle()
    customer = get_customer(stack, "c1")[1]
    assert customer["segment"] == "prospect"
    assert customer["aggregates"]["orders"] == 0


def test_an_event_that_keeps_failing_ends_in_the_dlq_and_others_go_on(stack) -> None:
    from datetime import UTC, datetime

    from nudgeloop.dal import event_log
    from nudgeloop.domain.events import Event

    at = datetime(2026, 1, 1, tzinfo=UTC)
    # stored without validation (as an older release might have): processing cannot succeed
    event_log.store_event(
        Event(
            event_id="bad",
            type="order.completed",
            customer_id="c9",
            occurred_at=at,
            source="api",
            properties={"order_id": "o-bad", "total": "a lot"},
            received_at=at,
        )
    )
    post_events(stack, [upsert("c1")])
    stack.settle()
    assert stack.dlq_depths()["nudgeloop-failures"] == 1
    assert get_customer(stack, "c1")[0] == 200
    assert any(f["function"] == "ingest_process" for f in stack.failures)


def test_customer_history_is_paginated_newest_first(stack) -> None:
    events = [upsert("h1")] + [order("h1", f"o{i}", at=f"2025-12-{10 + i:02d}T10:00:00Z") for i in range(5)]
    post_events(stack, events)
    stack.settle()
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, _h, body = stack.api(
            "GET", "/v1/customers/h1/events", headers={"x-api-key": "local-admin-key-for-development"}, query=query
        )
        assert status == 200
        page = json.loads(body)
        assert len(page["events"]) <= 2
        seen += page["events"]
        cursor = page["next"]
        if not cursor:
            break
    times = [e["occurred_at"] for e in seen]
    assert times == sorted(times, reverse=True)
    assert sum(e["type"] == "order.completed" for e in seen) == 5
    assert len({e["event_id"] for e in seen}) == len(seen)
    for bad in ({"limit": "0"}, {"limit": "x"}, {"cursor": "garbage!"}):
        status, _h, body = stack.api(
            "GET", "/v1/customers/h1/events", headers={"x-api-key": "local-admin-key-for-development"}, query=bad
        )
        assert status == 400 and json.loads(body)["error"]["field"] in ("limit", "cursor")


def test_put_customer_updates_the_profile_through_the_event_path(stack) -> None:
    headers = {"x-api-key": "local-admin-key-for-development"}
    status, _h, body = stack.api(
        "PUT", "/v1/customers/p1", headers=headers, body=json.dumps({"first_name": "Grace", "email": "g@example.com"})
    )
    assert status == 202 and json.loads(body)["event_id"]
    stack.settle()
    assert get_customer(stack, "p1")[1]["profile"] == {"first_name": "Grace", "email": "g@example.com"}
    status, _h, body = stack.api("PUT", "/v1/customers/p1", headers=headers, body=json.dumps({"email": "nope"}))
    assert status == 400 and json.loads(body)["error"]["field"] == "email"
    status, _h, body = stack.api("PUT", "/v1/customers/p1", headers=headers, body="[1]")
    assert status == 400 and json.loads(body)["error"]["field"] == "body"


def test_openapi_document_is_served_without_a_key(stack) -> None:
    status, headers, body = stack.api("GET", "/v1/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["openapi"] == "3.1.0"


def test_a_repeat_order_that_moves_nobody_costs_no_customer_write_and_stays_correct(stack) -> None:
    from datetime import timedelta

    from nudgeloop.dal import customer_store, event_log

    # No campaign watching "N days after the last purchase" (the shipped cross-sell does: with it,
    # a repeat order moves the review date sooner, which is a write).
    cross_sell = (ROOT / "campaigns" / "examples" / "cross-sell.yaml").read_text()
    stack.put_campaign("cross-sell.yaml", cross_sell.replace("name: Cross-sell", "name: Cross-sell\nenabled: false").encode())
    post_events(stack, [upsert("r1"), order("r1", "o1", at="2025-09-03T10:00:00Z")])  # 120 days before START
    stack.settle()
    before = customer_store.get_customer("r1")
    assert before.step == "active"
    assert before.review_on == "2026-03-03"  # the day the order is 181 days old: at risk

    post_events(stack, [order("r1", "o2", at="2026-01-01T08:00:00Z")])
    stack.settle()
    after = customer_store.get_customer("r1")
    assert after.version == before.version  # not written: still active, its review may come later
    assert after.review_on == "2026-03-03"
    _status, view = get_customer(stack, "r1")
    assert (view["aggregates"]["orders"], view["aggregates"]["last_order_at"]) == (2, "2026-01-01T08:00:00.000Z")

    stack.advance(timedelta(days=62))  # the held review date passes: re-placed from the event log
    later = customer_store.get_customer("r1")
    assert later.step == "active"  # the second order keeps them active
    assert later.review_on == "2026-07-01"  # 181 days after the second order
    moves = [e.properties["to"] for e in event_log.customer_events("r1") if e.type == "segment.migrated"]
    assert "at_risk" not in moves
