"""The shipped example campaigns, each running on the local stack as a marketer would use it."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import consent, order, post_events, upsert


def mails(stack, campaign_id: str) -> list[dict]:
    return [m for m in stack.outbox() if m["campaign_id"] == campaign_id]


def test_win_back_waits_for_the_customers_own_rhythm_and_sends_in_its_window(stack) -> None:
    # w1 ordered every 20 days, w2 every 150: both slip to "at risk" 181 days after their last order
    post_events(stack, [upsert("w1"), consent("w1", purpose="marketing"), upsert("w2"), consent("w2", purpose="marketing")])
    post_events(stack, [order("w1", f"o{i}", at=f"2025-{m}T10:00:00Z") for i, m in enumerate(("06-10", "06-30", "07-20"))])
    post_events(stack, [order("w2", "o1", at="2025-02-20T10:00:00Z"), order("w2", "o2", at="2025-07-20T10:00:00Z")])
    stack.settle()
    stack.advance(timedelta(days=20))  # 21 January: both at risk since the daily run of 17 January
    vouchers = {m["customer_id"]: m for m in mails(stack, "winback")}
    assert list(vouchers) == ["w1"]  # 1.5 x 20 days overdue long ago: at once
    # sent on Saturday 17 January (the window allows Tue, Wed, Thu, Sat from 9:00; the daily run is at 3:00)
    assert vouchers["w1"]["sent_at"].startswith("2026-01-17T09:00")
    assert "COMEBACK-" in vouchers["w1"]["text"]
    # w2 is due 1.5 x 150 = 225 days after 20 July: 2 March 2026 (a Monday), so Tuesday 3 March
    stack.advance(timedelta(days=40))  # 2 March
    assert [m["customer_id"] for m in mails(stack, "winback")] == ["w1", "w1"]  # w1's reminder after 14 days
    stack.advance(timedelta(days=2))
    late = [m for m in mails(stack, "winback") if m["customer_id"] == "w2"]
    assert [m["sent_at"][:16] for m in late] == ["2026-03-03T09:00"]


def test_after_a_service_the_offer_follows_the_day_after_the_booking_ends_with_consent_only(stack) -> None:
    def booking(cid: str) -> dict:
        return {
            "event_id": f"book-{cid}",
            "type": "service.booked",
            "customer_id": cid,
            "occurred_at": "2026-01-01T08:00:00Z",
            "properties": {
                "booking_id": f"b-{cid}",
                "service": "hotel stay",
                "starts_at": "2026-01-06T15:00:00Z",
                "ends_at": "2026-01-09T10:00:00Z",
            },
        }

    berlin = upsert("s1", timezone="Europe/Berlin")
    post_events(stack, [berlin, consent("s1", purpose="marketing"), booking("s1"), upsert("s2"), booking("s2")])
    stack.settle()
    stack.advance(timedelta(days=9))  # 10 January 09:00 UTC
    offers = mails(stack, "service-followup")
    assert [m["customer_id"] for m in offers] == ["s1"]  # s2 gave no marketing consent
    assert offers[0]["sent_at"].startswith("2026-01-10T09:00")  # 10:00 in Berlin, the day after the stay
    assert "THANKYOU-" in offers[0]["text"]
    # both got the service reminder before the stay (a service mail needs no marketing consent)
    assert sorted(m["customer_id"] for m in mails(stack, "service-reminder")) == ["s1", "s2"]


def test_refer_a_friend_rewards_the_referrer_when_the_friend_first_orders_and_the_friend_at_sign_up(stack) -> None:
    referral = {
        "event_id": "ref-1",
        "type": "referral.created",
        "customer_id": "f1",
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {"referee_email": "friend@customers.example", "code": "F1CODE"},
    }

    def signup(cid: str, **props: str) -> dict:
        return {
            "event_id": f"signup-{cid}",
            "type": "signup",
            "customer_id": cid,
            "occurred_at": "2026-01-01T08:40:00Z",
            "properties": props,
        }

    post_events(stack, [upsert("f1"), consent("f1"), referral])
    post_events(stack, [upsert("f2"), consent("f2"), signup("f2", referral_code="F1CODE")])
    post_events(stack, [upsert("f3"), consent("f3"), signup("f3", form="footer")])  # no referral
    stack.settle()
    assert mails(stack, "refer-a-friend") == []  # a referral alone earns nothing yet
    post_events(stack, [order("f3", "o1"), order("f2", "o1", at="2026-01-01T08:50:00Z")])  # the friend's first order
    stack.settle()
    post_events(stack, [order("f2", "o2", at="2026-01-01T08:55:00Z")])  # a second order rewards nothing more
    stack.settle()
    referrer = mails(stack, "refer-a-friend")
    referee = mails(stack, "referral-welcome")
    assert [m["customer_id"] for m in referrer] == ["f1"] and [m["customer_id"] for m in referee] == ["f2"]
    codes = {m["customer_id"]: m["text"].split("FRIEND-")[1][:10] for m in referrer + referee}
    assert len(set(codes.values())) == 2  # unique per customer
    post_events(stack, [signup("f2", referral_code="F1CODE") | {"event_id": "signup-f2-again"}])
    stack.settle()
    assert len(mails(stack, "referral-welcome")) == 1  # once per customer


def test_cross_sell_reaches_active_and_vip_customers_14_days_after_their_last_purchase(stack) -> None:
    post_events(stack, [upsert("x1"), consent("x1", purpose="marketing"), upsert("x2"), consent("x2", purpose="marketing")])
    post_events(stack, [order("x1", "o1", at="2025-08-01T10:00:00Z"), order("x1", "o2", at="2025-12-22T10:00:00Z")])
    post_events(stack, [order("x2", "o1", at="2025-12-22T10:00:00Z")])  # a new customer: not in the audience
    stack.settle()
    stack.advance(timedelta(days=2))
    assert mails(stack, "cross-sell") == []
    stack.advance(timedelta(days=4))  # the daily run of 5 January: 14 days after 22 December
    sent = mails(stack, "cross-sell")
    assert [m["customer_id"] for m in sent] == ["x1"]
    assert "also liked these" in sent[0]["text"]


def test_campaigns_simulate_forecasts_against_the_stacks_data_and_changes_nothing(stack) -> None:
    import json
    from pathlib import Path

    from nudgeloop_cli.local.server import control

    newsletter = (Path(__file__).resolve().parents[2] / "campaigns" / "examples" / "newsletter.yaml").read_text()
    post_events(stack, [upsert("n1"), consent("n1"), order("n1", "o1")])  # new, subscribed
    post_events(stack, [upsert("n2"), order("n2", "o1")])  # new, not subscribed
    post_events(stack, [upsert("n3"), consent("n3")])  # subscribed prospect: not on the steps
    stack.settle()
    before = len(stack.outbox())

    def simulate(payload: dict) -> tuple[int, dict]:
        status, _headers, body = control(stack, "POST", "/_local/campaigns/simulate", json.dumps(payload))
        return status, json.loads(body)

    status, result = simulate({"campaign": newsletter, "days": 40})
    assert status == 200
    assert (result["customers_considered"], result["entries"]) == (3, {"entered": 2})  # on 1 February
    assert result["steps"] == {"issue": {"sent": 1}}
    assert result["exits"] == {"completed": 1, "no_consent": 1}
    assert len(stack.outbox()) == before  # a forecast sends nothing
    assert simulate({"campaign": newsletter, "days": 20})[1]["entries"] == {}  # no 1st of the month in it
    assert simulate({"campaign": newsletter, "days": 0}) == (
        400,
        {"error": {"field": "days", "reason": "a whole number from 1 to 366"}},
    )
    status, problem = simulate({"campaign": newsletter.replace("day_of_month: 1", "day_of_month: 31"), "days": 5})
    assert status == 422 and problem["error"]["field"] == "trigger.schedule.day_of_month"


def test_replaying_every_kind_of_trigger_any_number_of_times_never_sends_a_second_mail(stack) -> None:
    from nudgeloop.adapters.bus import BusEvent, EventBridgePublisher

    post_events(stack, [upsert("x1", birthday="1990-01-03"), consent("x1"), consent("x1", purpose="marketing")])
    post_events(stack, [order("x1", "o1")])  # prospect -> new: the welcome series
    stack.settle()
    triggers = [
        (
            "nudgeloop.segment",
            "SegmentMigrated",
            {"from": "prospect", "to": "new", "on": "2026-01-01", "reason": "order.completed"},
        ),
        (
            "nudgeloop.behaviour",
            "BehaviourObserved",
            {"event_type": "cart.abandoned", "event_id": "cart-x1", "occurred_at": "2026-01-01T08:00:00Z", "properties": []},
        ),
        (
            "nudgeloop.segment",
            "DateReached",
            {"kind": "birthday", "days": 0, "on": "2026-01-03", "ref": "2026", "occurrence": "birthday:0:2026-01-03:2026"},
        ),
        ("nudgeloop.segment", "ScheduleReached", {"campaign_id": "newsletter", "on": "2026-01-01"}),
    ]
    replays = [BusEvent(source=s, detail_type=t, detail={"customer_id": "x1", **d}) for s, t, d in triggers]

    def replay(times: int) -> None:
        for _ in range(times):
            EventBridgePublisher(stack.catalog.bus_name).publish(replays)
        stack.settle()

    replay(3)  # while the journeys run
    stack.advance(timedelta(days=4))  # past every wait: all journeys complete
    replay(3)  # and after they finished
    stack.advance(timedelta(days=1))
    from nudgeloop.dal import ledger

    # at most 3 marketing mails in 7 days: five steps in four days meet it, and the two over the
    # cap wait for it (deferred, not in the ledger yet)
    decided = [(e.data["campaign_id"], e.data["step_id"], e.status) for e in ledger.ledger("x1")]
    assert sorted(status for *_, status in decided) == ["sent", "sent", "sent"]
    stack.advance(timedelta(days=7))  # the first mails leave the cap's window: the deferred two go
    replay(3)  # and a replay after everything is done starts nothing
    stack.advance(timedelta(days=1))
    decided = [(e.data["campaign_id"], e.data["step_id"], e.status) for e in ledger.ledger("x1")]
    steps = sorted((c, s) for c, s, _ in decided)
    assert steps == sorted(
        [
            ("welcome", "welcome"),
            ("welcome", "followup"),
            ("cart-reminder", "reminder"),
            ("birthday", "greeting"),
            ("newsletter", "issue"),
        ]
    )  # each step of each journey decided exactly once
    assert sorted(status for *_, status in decided) == ["sent"] * 5
    sent = sorted((m["campaign_id"], m["step_id"]) for m in stack.outbox())
    assert sent == sorted((c, s) for c, s, status in decided if status == "sent")  # one mail each, no more
