"""Segmentation, journeys, sending and feedback on the local runtime (handlers on moto)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.conftest import consent, get_customer, order, post_events, upsert


def journeys(stack) -> list[dict]:
    from nudgeloop.adapters.aws import client

    return client("stepfunctions").list_executions(stateMachineArn=stack.res.state_machine_arn)["executions"]


def welcome_customer(stack, cid: str = "c1") -> None:
    post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
    stack.settle()


def test_first_order_migrates_and_starts_one_welcome_journey(stack) -> None:
    welcome_customer(stack)
    assert get_customer(stack, "c1")[1]["segment"] == "new"
    runs = journeys(stack)
    assert len(runs) == 1 and runs[0]["name"].startswith("welcome-")
    mails = stack.outbox()
    assert len(mails) == 1
    mail = mails[0]
    assert (mail["campaign_id"], mail["step_id"], mail["customer_id"]) == ("welcome", "welcome", "c1")
    assert mail["to"] == "c1@customers.example"
    assert "Ada" in mail["subject"] and "Ada" in mail["html"] and "Ada" in mail["text"]
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["sent_at"] == "2026-01-01T09:00:00.000Z"


def test_repeated_migration_events_start_nothing_new_and_send_nothing_twice(stack) -> None:
    welcome_customer(stack)
    from nudgeloop.adapters.bus import EventBridgePublisher
    from nudgeloop.dal import event_log
    from nudgeloop.services import segmenting

    event = event_log.customer_events("c1")
    migration = next(e for e in event if e.type == "segment.migrated")
    replay = segmenting.BusEvent(
        source=segmenting.SOURCE,
        detail_type="SegmentMigrated",
        detail={
            "customer_id": "c1",
            **{k: migration.properties[k] for k in ("from", "to", "on", "reason", "staircase_version")},
            "at": migration.occurred_at,
        },
    )
    for _ in range(3):
        EventBridgePublisher(stack.catalog.bus_name).publish([replay])
    stack.settle()
    assert len(journeys(stack)) == 1
    assert len(stack.outbox()) == 1


def test_send_task_called_twice_sends_once(stack) -> None:
    welcome_customer(stack)
    run = journeys(stack)[0]
    request = {
        "customer_id": "c1",
        "campaign_id": "welcome",
        "step_id": "welcome",
        "template": "welcome",
        "consent_purpose": "newsletter",
        "execution": run["name"],
    }
    assert stack.call("send", request)["status"] == "duplicate"
    assert len(stack.outbox()) == 1


def test_no_consent_no_mail(stack) -> None:
    post_events(stack, [upsert("c2"), order("c2", "o1")])
    stack.settle()
    assert stack.outbox() == []
    assert [j["status"] for j in journeys(stack)] == ["SUCCEEDED"]


def test_wait_runs_on_the_simulated_clock_and_follow_up_goes_out(stack) -> None:
    welcome_customer(stack)
    stack.advance(timedelta(days=2))
    assert len(stack.outbox()) == 1
    stack.advance(timedelta(days=1, hours=1))
    steps = [m["step_id"] for m in stack.outbox()]
    assert steps == ["welcome", "followup"]
    assert [j["status"] for j in journeys(stack)] == ["SUCCEEDED"]
    followup = stack.outbox()[1]
    import re

    from nudgeloop.dal import vouchers

    code = re.search(r"Your code: (WELCOME-[0-9A-F]{10})", followup["text"]).group(1)
    assert code in followup["html"]
    with stack.aws_lock:
        stored = vouchers.get(code)  # issued when the mail went: the shop can check and redeem it
    assert stored is not None and (stored.customer_id, stored.campaign_id, stored.step_id) == ("c1", "welcome", "followup")
    # the layout's <style> rules are inlined into the elements of the extending template
    assert 'class="voucher" style="font-size: 18px;' in followup["html"] and "<style>" not in followup["html"]


def test_ordering_again_skips_the_follow_up(stack) -> None:
    welcome_customer(stack)
    stack.advance(timedelta(days=1))
    post_events(stack, [order("c1", "o2", at="2026-01-02T09:00:00Z")])
    stack.advance(timedelta(days=3))
    assert [m["step_id"] for m in stack.outbox()] == ["welcome"]


def test_daily_run_migrates_due_customers_once(stack) -> None:
    welcome_customer(stack)
    stack.advance(timedelta(days=89))
    assert get_customer(stack, "c1")[1]["segment"] == "new"
    stack.advance(timedelta(days=2))
    customer = get_customer(stack, "c1")[1]
    assert customer["segment"] == "active"
    from nudgeloop.dal import event_log

    history = [e.properties for e in event_log.customer_events("c1", limit=50) if e.type == "segment.migrated"]
    assert sorted((h["from"], h["to"]) for h in history) == [("new", "active"), ("prospect", "new")]
    result = stack.call("segment_daily", {})  # same day again: nothing due, nothing emitted
    assert result == {"examined": 0, "migrated": 0, "occasions": 0, "full_scan": False}


def test_feedback_is_stored_against_customer_and_campaign(stack) -> None:
    welcome_customer(stack)
    message_id = stack.outbox()[0]["message_id"]
    stack.emit_ses_event(message_id, "Open")
    stack.emit_ses_event(message_id, "Open")  # SES may repeat an event: counted once
    stack.emit_ses_event(message_id, "Click", {"link": "https://shop.example/x"})
    stack.settle()
    from nudgeloop.dal import campaign_stats, event_log

    stats = {
        k: v for k, v in campaign_stats.campaign_stats("welcome").items() if not k.startswith("_")
    }  # "_entries": entry counters
    assert stats == {"welcome": {"sent": 1, "delivered": 1, "opened": 1, "clicked": 1}}
    kinds = sorted(e.type for e in event_log.customer_events("c1", limit=50) if e.type.startswith("email."))
    assert kinds == ["email.clicked", "email.delivered", "email.opened", "email.sent"]  # SES reports it sent, then delivered


def test_one_click_unsubscribe_opts_out_and_forged_tokens_fail(stack) -> None:
    welcome_customer(stack)
    url = stack.outbox()[0]["headers"]["List-Unsubscribe"].strip("<>")
    token = parse_qs(urlsplit(url).query)["token"][0]
    status, _h, _b = stack.api("POST", "/v1/unsubscribe", query={"token": token[:-2] + "xx"})
    assert status == 403
    status, headers, page = stack.api("GET", "/v1/unsubscribe", query={"token": token})
    assert status == 200 and headers["content-type"].startswith("text/html") and "<form" in page
    status, _h, _b = stack.api("POST", "/v1/unsubscribe", query={"token": token})
    assert status == 200
    stack.settle()
    assert get_customer(stack, "c1")[1]["consents"]["newsletter"]["status"] == "opt_out"
    stack.advance(timedelta(days=4))
    assert [m["step_id"] for m in stack.outbox()] == ["welcome"]


def test_customers_per_step_and_daily_flows_are_counted_exactly(stack) -> None:
    from datetime import date

    from nudgeloop.dal import step_tallies

    post_events(stack, [upsert("a"), upsert("b"), upsert("c"), order("a", "1"), order("b", "1")])
    stack.settle()
    post_events(stack, [order("a", "1")])  # a duplicate changes nothing
    stack.settle()
    assert {k: v for k, v in step_tallies.segment_counts().items() if v} == {"prospect": 1, "new": 2}
    assert step_tallies.segment_flows(date(2026, 1, 1)) == {"prospect>new": 2}
    stack.advance(timedelta(days=92))
    counts = {k: v for k, v in step_tallies.segment_counts().items() if v}
    assert counts == {"prospect": 1, "active": 2}
    days = step_tallies.segment_days(date(2026, 1, 1), date(2026, 4, 30))
    assert days["2026-01-02"] == {"prospect": 1, "new": 2}
    assert {k: v for k, v in days["2026-04-02"].items() if v} == {"prospect": 1, "active": 2}
    assert sum(step_tallies.segment_flows(date(2026, 4, 1)).values()) == 2


def test_recommendations_are_aggregated_and_read_in_one_request(stack) -> None:
    def basket(cid: str, oid: str, skus: list[str]) -> dict:
        event = order(cid, oid)
        event["properties"]["items"] = [{"sku": s, "price": "1.00"} for s in skus]
        return event

    post_events(
        stack,
        [
            basket("x1", "1", ["SKU-TEA-01", "SKU-HON-01"]),
            basket("x2", "1", ["SKU-TEA-01", "SKU-HON-01"]),
            basket("x3", "1", ["SKU-TEA-01", "SKU-MUG-01"]),
        ],
    )
    welcome_customer(stack, "c1")  # bought SKU-1 (not in the catalogue)
    post_events(stack, [basket("c1", "o0", ["SKU-TEA-01"])])
    stack.settle()
    from nudgeloop.dal import insights

    with stack.aws_lock:  # last Sunday's CLV fit: the daily aggregation of the same table leaves it alone
        insights.save_clv({"x1": {"expected_value_12m": 120.0}}, {"fitted_at": "2025-12-28T04:00:00Z"})
    assert stack.call("recommend", {})["written"] > 0
    with stack.aws_lock:
        assert insights.clv_of("x1") == {"expected_value_12m": 120.0}
    from nudgeloop.dal import customer_store, event_log
    from nudgeloop.dal.models import RecsItem
    from nudgeloop.domain.aggregates import recent_skus
    from nudgeloop.services import recommend

    owned = recent_skus(event_log.order_facts("c1"))
    assert "SKU-TEA-01" in owned
    calls: list[str] = []
    ddb = RecsItem._get_connection().connection.client
    ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    blocks = recommend.for_customer(customer_store.get_customer("c1"), owned)
    assert calls == ["BatchGetItem"]
    assert [p["sku"] for p in blocks["also_bought"]] == ["SKU-HON-01", "SKU-MUG-01"]
    assert [p["sku"] for p in blocks["we_recommend"]] == ["SKU-POT-01", "SKU-HON-01"]
    # the send path renders them: the follow-up lists what others bought
    stack.advance(timedelta(days=3, hours=1))
    followup = next(m for m in stack.outbox() if m["step_id"] == "followup")
    assert "Forest honey" in followup["html"] and "https://shop.example/p/honey" in followup["html"]


def test_migrations_in_both_directions(stack) -> None:
    post_events(stack, [upsert("u1"), order("u1", "old", at="2025-06-01T10:00:00Z")])  # 214 days before START
    stack.settle()
    assert get_customer(stack, "u1")[1]["segment"] == "at_risk"
    post_events(stack, [order("u1", "again", at="2026-01-01T08:00:00Z")])
    stack.settle()
    assert get_customer(stack, "u1")[1]["segment"] == "active"
    from nudgeloop.dal import event_log

    moves = sorted(
        (e.properties["from"], e.properties["to"]) for e in event_log.customer_events("u1") if e.type == "segment.migrated"
    )
    assert moves == [("at_risk", "active"), ("prospect", "at_risk")]
