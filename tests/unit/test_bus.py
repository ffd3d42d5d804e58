"""Publishing to EventBridge: 10 entries per call, failed entries (only) retried."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber

from nudgeloop.adapters import aws, bus


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(bus.time, "sleep", lambda _s: None)
    aws.reset()
    client = aws.client("events")
    with Stubber(client) as stub:
        yield stub
    aws.reset()


def migrations(n: int) -> list[bus.BusEvent]:
    return [bus.BusEvent("nudgeloop.segment", "SegmentMigrated", {"customer_id": f"c{i}"}) for i in range(n)]


def test_23_events_take_3_calls(events: Stubber) -> None:
    for size in (10, 10, 3):
        events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}] * size}, {"Entries": ANY})
    publisher = bus.EventBridgePublisher("nudgeloop-bus")
    publisher.publish(migrations(23))
    assert publisher.calls == 3
    events.assert_no_pending_responses()


def test_only_failed_entries_are_retried(events: Stubber) -> None:
    sent = migrations(3)
    events.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "x"}, {"EventId": "c"}],
        },
        {"Entries": ANY},
    )
    retry = bus.EventBridgePublisher("nudgeloop-bus")._entry(sent[1])
    events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "b"}]}, {"Entries": [retry]})
    bus.EventBridgePublisher("nudgeloop-bus").publish(sent)
    events.assert_no_pending_responses()


def test_entries_failing_every_attempt_raise(events: Stubber) -> None:
    for _ in range(bus.ATTEMPTS):
        events.add_response(
            "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}, {"Entries": ANY}
        )
    with pytest.raises(bus.PublishError):
        bus.EventBridgePublisher("nudgeloop-bus").publish(migrations(1))
