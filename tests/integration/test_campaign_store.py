"""An invalid campaign upload is rejected with line and field; the previous version keeps running."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import consent, order, post_events, upsert
from tests.integration.test_loop import journeys

WELCOME = (Path(__file__).resolve().parents[2] / "campaigns" / "examples" / "welcome.yaml").read_text()


def test_an_invalid_upload_leaves_the_previous_version_running(stack) -> None:
    before = {r["id"]: r for r in stack.campaigns()}["welcome"]
    assert before["latest_valid"] and before["running_version"] == before["latest_version"]
    broken = WELCOME.replace("reentry: never", "reentry: sometimes")
    stack.put_campaign("welcome.yaml", broken.encode())
    row = {r["key"]: r for r in stack.campaigns()}["campaigns/welcome.yaml"]
    assert row["latest_valid"] is False and row["running_version"] == before["running_version"]
    assert row["problem"] == {
        "line": broken.splitlines().index("reentry: sometimes") + 1,
        "field": "reentry",
        "reason": row["problem"]["reason"],
    }
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    assert [m["step_id"] for m in stack.outbox()] == ["welcome"]  # the campaign kept running
    stack.put_campaign("welcome.yaml", WELCOME.replace("name: Welcome series", "name: Welcome series v2").encode())
    row = {r["key"]: r for r in stack.campaigns()}["campaigns/welcome.yaml"]
    assert row["latest_valid"] and row["running_version"] == row["latest_version"] != before["running_version"]


def test_holdout_entrants_get_no_mail_and_every_entry_is_counted_once(stack) -> None:
    from nudgeloop.dal import campaign_stats
    from nudgeloop.domain.journeys import in_holdout

    stack.put_campaign("welcome.yaml", WELCOME.replace("reentry: never", "reentry: never\nholdout_percent: 50").encode())
    ids = [f"h{i}" for i in range(8)]
    for cid in ids:
        post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
    stack.settle()
    held = {c for c in ids if in_holdout("welcome", c, 50)}
    assert 0 < len(held) < len(ids)  # this sample has both groups
    assert {m["customer_id"] for m in stack.outbox()} == set(ids) - held
    with stack.aws_lock:
        assert campaign_stats.campaign_entries("welcome") == {"entered": len(ids) - len(held), "holdout": len(held)}


def abandoned(cid: str, event_id: str, at: str) -> dict:
    return {
        "event_id": event_id,
        "type": "cart.abandoned",
        "customer_id": cid,
        "occurred_at": at,
        "properties": {"cart_id": f"k-{event_id}", "items": [{"sku": "SKU-1", "quantity": 1, "price": "4.50"}]},
    }


def test_a_fresh_behaviour_starts_its_campaign_once_and_imported_history_starts_nothing(stack) -> None:
    from datetime import timedelta

    post_events(stack, [upsert("b1"), consent("b1", purpose="marketing")])
    stack.settle()
    post_events(stack, [abandoned("b1", "cart-1", "2026-01-01T08:30:00Z"), abandoned("b1", "old", "2025-06-01T08:00:00Z")])
    stack.settle()
    post_events(stack, [abandoned("b1", "cart-1", "2026-01-01T08:30:00Z")])  # the same event again
    stack.advance(timedelta(hours=2))
    reminders = [m for m in stack.outbox() if m["campaign_id"] == "cart-reminder"]
    assert len(reminders) == 1 and reminders[0]["step_id"] == "reminder"


def test_an_order_after_the_abandoned_cart_ends_the_reminder_journey(stack) -> None:
    from datetime import timedelta

    post_events(stack, [upsert("b2"), consent("b2", purpose="marketing")])
    stack.settle()
    post_events(stack, [abandoned("b2", "cart-2", "2026-01-01T08:30:00Z")])
    stack.settle()
    post_events(stack, [order("b2", "o9", at="2026-01-01T09:10:00Z")])
    stack.advance(timedelta(hours=2))
    assert not [m for m in stack.outbox() if m["campaign_id"] == "cart-reminder"]


def test_a_send_on_a_public_holiday_goes_out_at_the_next_slot_in_the_customers_time(stack) -> None:
    from datetime import timedelta

    from nudgeloop.dal import ledger

    window = "send_window:\n  weekdays: [mon, tue, wed, thu, fri]\n  from_hour: 9\n  to_hour: 18\n"
    stack.put_campaign("welcome.yaml", WELCOME.replace("reentry: never\n", "reentry: never\n" + window).encode())
    # 2026-01-01 (the stack's start) is New Year's Day, a public holiday in Germany
    post_events(stack, [upsert("w1", timezone="Europe/Berlin", country="DE"), consent("w1"), order("w1", "o1")])
    stack.settle()
    assert stack.outbox() == []  # parked, not dropped
    stack.advance(timedelta(days=1))
    (mail,) = stack.outbox()
    sent_at = next(e for e in ledger.ledger("w1") if e.status == "sent").data["sent_at"]
    assert sent_at == "2026-01-02T08:00:00.000Z" and mail["step_id"] == "welcome"  # Friday 09:00 in Berlin


def test_a_branch_on_opens_follows_the_ses_feedback_of_this_journeys_mails(stack) -> None:
    from datetime import timedelta

    engage = WELCOME.replace("ordered_since_entry: true", "opened_since_entry: true")
    stack.put_campaign("welcome.yaml", engage.encode())
    for cid in ("e1", "e2"):
        post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
    stack.settle()
    opened = next(m for m in stack.outbox() if m["customer_id"] == "e1")
    stack.emit_ses_event(opened["message_id"], "Open")
    stack.advance(timedelta(days=4))
    followups = [m["customer_id"] for m in stack.outbox() if m["step_id"] == "followup"]
    assert followups == ["e2"]  # e1 opened the welcome mail: the branch ended their journey


def test_reentry_after_days_lets_a_customer_in_again_only_after_the_pause(stack) -> None:
    from datetime import timedelta

    from nudgeloop.services import campaign_store, trigger

    birthday = (Path(__file__).resolve().parents[2] / "campaigns" / "examples" / "birthday.yaml").read_text()
    again = birthday.replace("reentry: every_occurrence", "reentry: after_days\nreentry_days: 30")
    stack.put_campaign("birthday.yaml", again.encode())
    post_events(stack, [upsert("r1"), consent("r1")])
    stack.settle()

    def fire(occurrence: str) -> int:
        """Trigger the campaign; how many birthday journeys exist afterwards."""
        envelope = {
            "detail-type": "DateReached",
            "detail": {"customer_id": "r1", "kind": "birthday", "days": 0, "on": "2026-01-01", "occurrence": occurrence},
        }
        with stack.aws_lock:
            campaigns = campaign_store.active(stack.res.buckets["campaigns"])
            trigger.handle_bus_event(envelope, campaigns, stack.res.state_machine_arn)
            return len([j for j in journeys(stack) if j["name"].startswith("birthday-")])

    assert fire("bd-2026") == 1
    assert fire("bd-2026") == 1  # the same trigger again: the same journey
    assert fire("bd-other") == 1  # another occurrence within 30 days: too soon
    stack.clock.advance(timedelta(days=31))
    assert fire("bd-later") == 2


def test_the_monthly_newsletter_reaches_subscribers_on_its_steps_once_on_the_first(stack) -> None:
    from datetime import timedelta

    post_events(stack, [upsert("n1"), consent("n1"), order("n1", "o1")])  # new, subscribed
    post_events(stack, [upsert("n2"), order("n2", "o1")])  # new, not subscribed
    post_events(stack, [upsert("n3"), consent("n3")])  # subscribed prospect: not on the steps
    stack.settle()
    stack.advance(timedelta(days=30))  # 2026-01-31 09:00: not yet
    assert not [m for m in stack.outbox() if m["campaign_id"] == "newsletter"]
    stack.advance(timedelta(days=1))  # past the daily run of 1 February
    issues = [m for m in stack.outbox() if m["campaign_id"] == "newsletter"]
    assert [m["customer_id"] for m in issues] == ["n1"]
    stack.call("segment_daily", {})  # a re-run the same day starts nothing new
    stack.settle()
    assert len([m for m in stack.outbox() if m["campaign_id"] == "newsletter"]) == 1


def test_shipped_examples_service_reminder_and_refer_a_friend_run(stack) -> None:
    from datetime import timedelta

    booking = {
        "event_id": "book-1",
        "type": "service.booked",
        "customer_id": "s1",
        "occurred_at": "2026-01-01T08:00:00Z",
        "properties": {
            "booking_id": "b-1",
            "service": "inspection",
            "starts_at": "2026-01-06T10:00:00Z",
            "ends_at": "2026-01-06T11:00:00Z",
        },
    }
    referral = {
        "event_id": "ref-1",
        "type": "referral.created",
        "customer_id": "f1",
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {"referee_email": "friend@customers.example", "code": "F1-CODE"},
    }
    friend = {
        "event_id": "signup-f9",
        "type": "signup",
        "customer_id": "f9",
        "occurred_at": "2026-01-01T08:40:00Z",
        "properties": {"referral_code": "F1-CODE"},
    }
    post_events(stack, [upsert("s1"), booking, upsert("f1"), consent("f1")])  # s1 gave no marketing consent
    stack.settle()
    post_events(stack, [referral, upsert("f9"), friend])
    stack.settle()
    post_events(stack, [order("f9", "o1")])  # the friend's first order rewards the referrer
    stack.settle()
    thanks = [m for m in stack.outbox() if m["campaign_id"] == "refer-a-friend"]
    assert len(thanks) == 1 and "Your reward code: FRIEND-" in thanks[0]["text"]
    stack.advance(timedelta(days=3))  # the daily run of 4 January: two days before the booking
    reminders = [m for m in stack.outbox() if m["campaign_id"] == "service-reminder"]
    assert [m["customer_id"] for m in reminders] == ["s1"]
    assert "List-Unsubscribe" not in reminders[0]["headers"]  # a service mail


def test_a_draft_or_a_campaign_before_its_start_takes_no_entries(stack) -> None:
    from datetime import timedelta

    stack.put_campaign("welcome.yaml", WELCOME.replace("reentry: never\n", "reentry: never\ndraft: true\n").encode())
    post_events(stack, [upsert("d1"), consent("d1"), order("d1", "o1")])
    stack.settle()
    assert stack.outbox() == []  # a draft: validated, never entered
    later = WELCOME.replace("reentry: never\n", "reentry: never\nstarts_at: 2026-01-02T00:00:00Z\n")
    stack.put_campaign("welcome.yaml", later.encode())
    post_events(stack, [upsert("d2"), consent("d2"), order("d2", "o1")])
    stack.settle()
    assert stack.outbox() == []  # before its start
    stack.advance(timedelta(days=1))
    post_events(stack, [upsert("d3"), consent("d3"), order("d3", "o1", at="2026-01-02T09:30:00Z")])
    stack.settle()
    assert [m["customer_id"] for m in stack.outbox()] == ["d3"]
    listed = {row["id"]: row for row in stack.campaigns()}
    assert listed["welcome"]["takes_entries"] is True and listed["welcome"]["draft"] is False


def test_a_campaigns_history_lists_every_version_with_who_uploaded_it_and_which_runs(stack) -> None:
    import json

    from nudgeloop_cli.local.server import control

    stack.admin.put_campaign("welcome.yaml", WELCOME.replace("name: Welcome series", "name: v2").encode(), by="ann")
    stack.admin.put_campaign("welcome.yaml", WELCOME.replace("reentry: never", "reentry: sometimes").encode(), by="bob")
    stack.settle()
    status, _headers, body = control(stack, "GET", "/_local/campaigns/welcome/history", "")
    rows = json.loads(body)
    assert status == 200 and len(rows) == 3  # the shipped one, ann's, bob's: newest first
    assert [(r["uploaded_by"], r["valid"], r["running"]) for r in rows] == [
        ("bob", False, False),
        ("ann", True, True),
        (None, True, False),
    ]
    assert rows[0]["problem"]["field"] == "reentry" and rows[0]["problem"]["line"] is not None
    assert rows[0]["uploaded_at"] >= rows[1]["uploaded_at"] >= rows[2]["uploaded_at"]
