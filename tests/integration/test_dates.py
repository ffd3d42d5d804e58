"""Date occasions on the local runtime: fired once per occurrence, in the customer's timezone."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import consent, post_events, upsert

# Three days ahead: a rule none of the shipped examples watches (theirs is two days ahead).
SERVICE_REMINDER = b"""
id: pre-service-3d
name: Service reminder, three days ahead
purpose: service
consent_purpose: service
trigger: {type: date_reached, kind: days_before_service, days: 3}
reentry: every_occurrence
steps:
  - {id: reminder, type: send, template: birthday}
"""


def test_birthday_mail_goes_out_once_on_the_local_birthday(stack) -> None:
    post_events(stack, [upsert("c1", birthday="1990-01-05", timezone="America/Los_Angeles"), consent("c1")])
    stack.advance(timedelta(days=3, hours=20))  # 2026-01-05 05:00 UTC: still 4 January in Los Angeles
    assert [m for m in stack.outbox() if m["campaign_id"] == "birthday"] == []
    stack.advance(timedelta(days=1))  # the 03:00 UTC run on 6 January sees 5 January in Los Angeles
    mails = [m for m in stack.outbox() if m["campaign_id"] == "birthday"]
    assert len(mails) == 1 and mails[0]["to"] == "c1@customers.example"
    again = stack.call("segment_daily", {})  # a re-run finds nothing new
    assert again["occasions"] == 0
    stack.advance(timedelta(days=20))
    assert len([m for m in stack.outbox() if m["campaign_id"] == "birthday"]) == 1


def test_new_date_rules_trigger_a_full_rescan_and_service_reminders(stack) -> None:
    post_events(stack, [upsert("c2", timezone="Europe/Berlin")])
    stack.settle()
    stack.advance(timedelta(days=1))  # a first daily run records the rules it ran with
    from nudgeloop.adapters.aws import client

    client("s3").put_object(Bucket=stack.res.buckets["campaigns"], Key="campaigns/pre-service-3d.yaml", Body=SERVICE_REMINDER)
    booking = {
        "event_id": "book-1",
        "type": "service.booked",
        "customer_id": "c2",
        "occurred_at": "2026-01-02T10:00:00Z",
        "properties": {
            "booking_id": "b-1",
            "service": "inspection",
            "starts_at": "2026-01-08T08:00:00+01:00",
            "ends_at": "2026-01-08T10:00:00+01:00",
        },
    }
    status, body = post_events(stack, [booking])
    assert (status, body["accepted"]) == (202, 1)
    result = stack.call("segment_daily", {})
    assert result["full_scan"] is True
    stack.advance(timedelta(days=5))
    reminders = [m for m in stack.outbox() if m["campaign_id"] == "pre-service-3d"]
    assert len(reminders) == 1
    assert reminders[0]["sent_at"].startswith("2026-01-05")  # three days before the 8th, Berlin time


def test_invalid_dates_are_rejected_by_field(stack) -> None:
    status, body = post_events(stack, [upsert("c3", birthday="1990-02-30"), upsert("c4", timezone="Mars/Olympus")])
    assert status == 202
    assert [r["field"] for r in body["rejected"]] == ["events[0].properties.birthday", "events[1].properties.timezone"]


def test_a_full_rescan_fans_out_over_parallel_scan_segments(stack) -> None:
    post_events(stack, [upsert(f"f{i}") for i in range(30)])
    stack.settle()
    stack.advance(timedelta(days=1))
    from nudgeloop.adapters.aws import client
    from nudgeloop.dal.models import CustomerModel

    client("s3").put_object(Bucket=stack.res.buckets["campaigns"], Key="campaigns/pre-service-3d.yaml", Body=SERVICE_REMINDER)
    before = stack.counters.get("segment_daily", 0)
    stack.advance(timedelta(days=1))  # the next run sees new rules
    assert stack.counters["segment_daily"] - before == 8  # the scheduled run and 7 segments it invoked
    run_at = "2026-01-03T03:00:00.000Z"
    assert {c.updated_at for c in CustomerModel.scan()} == {run_at}  # everyone re-placed, once
