"""Lambda's asynchronous invocation on the local runtime (cli/nudgeloop_cli/local/async_invoke.py):
S3 notifications and a bus rule invoke their functions directly, a failed invocation is retried
as Lambda retries it, then kept in the failures queue, from which a redrive invokes it again."""

from __future__ import annotations

import json

from tests.conftest import get_customer
from tests.integration.test_adapters import TILL_CSV, drop, report

FAILURES = "nudgeloop-failures"


def test_an_import_that_keeps_failing_is_kept_with_its_event_and_redriven_after_the_fix(stack, monkeypatch) -> None:
    handler = stack.handlers["ingest_import"]
    tries = []

    def broken(event, context):
        tries.append(event)
        raise RuntimeError("the import is broken")

    monkeypatch.setitem(stack.handlers, "ingest_import", broken)
    drop(stack, "imports/type=order.completed/till.csv", TILL_CSV)
    stack.settle()
    assert len(tries) == 3  # the invocation and Lambda's two retries (async_retries)
    assert tries[0]["Records"][0]["eventSource"] == "aws:s3"  # S3's own event, not a queue's message
    assert stack.dlq_depths()[FAILURES] == 1
    monkeypatch.setitem(stack.handlers, "ingest_import", handler)
    outcome = stack.redrive(FAILURES)
    assert (outcome["redriven"], outcome["failed"]) == (1, 0), outcome
    assert report(stack, "imports/type=order.completed/till.csv")["status"] == "done"
    assert get_customer(stack, "pos-1")[1]["aggregates"]["orders"] == 2
    assert stack.dlq_depths()[FAILURES] == 0


def test_a_message_that_is_not_an_invocation_record_is_left_in_the_failures_queue(stack) -> None:
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        client("sqs").send_message(QueueUrl=stack.res.dlq_urls[FAILURES], MessageBody=json.dumps({"detail-type": "X"}))
    outcome = stack.redrive(FAILURES)
    assert (outcome["redriven"], outcome["failed"]) == (0, 1)
    assert "not an invocation record" in outcome["details"][0]
    assert stack.dlq_depths()[FAILURES] == 1


def test_a_bus_rule_hands_its_function_the_event_as_eventbridge_does(stack, monkeypatch) -> None:
    from nudgeloop.adapters.bus import BusEvent, EventBridgePublisher

    seen = []
    monkeypatch.setitem(stack.handlers, "send_confirmation", lambda event, context: seen.append(event) or {})
    with stack.aws_lock:
        EventBridgePublisher(stack.catalog.bus_name).publish(
            [BusEvent(source="nudgeloop.consent", detail_type="ConsentConfirmationRequested", detail={"customer_id": "b1"})]
        )
    stack.settle()
    assert len(seen) == 1
    event = seen[0]
    assert (event["source"], event["detail-type"], event["detail"]["customer_id"]) == (
        "nudgeloop.consent",
        "ConsentConfirmationRequested",
        "b1",
    )
    assert event["time"].endswith("Z") and "T" in event["time"]  # ISO 8601, as EventBridge delivers it
    assert "ingestion-time" not in event


def test_invoke_with_invocation_type_event_is_answered_202_and_run_later(stack, monkeypatch) -> None:
    from nudgeloop.adapters.aws import client

    seen = []
    monkeypatch.setitem(stack.handlers, "templates_check", lambda event, context: seen.append(event) or {})
    with stack.aws_lock:
        answer = client("lambda").invoke(
            FunctionName=stack.res.function_arns["templates_check"], InvocationType="Event", Payload=b'{"Records": []}'
        )
    assert answer["StatusCode"] == 202 and seen == []  # accepted, not yet run
    stack.settle()
    assert {"Records": []} in seen  # (with the notifications of the examples the stack loaded)
