"""Campaign analytics against a hand-computed scenario: every KPI of the funnel, last-touch
attribution inside and outside the window, a refund, the holdout comparison, the staircase
endpoint and the daily export."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from nudgeloop import clock
from tests.conftest import KEY, consent, order, post_events, upsert

PROMO = """
id: promo
name: Promo
consent_purpose: newsletter
trigger: {type: behaviour, event: custom.promo}
holdout_percent: 50
cap_deferral_days: 0  # over the cap: capped at once (the hand-computed scenario counts it)
steps:
  - {id: offer, type: send, template: newsletter}
"""


def promo(cid: str) -> dict:
    return {
        "event_id": f"promo-{cid}",
        "type": "custom.promo",
        "customer_id": cid,
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {},
    }


def figures(stack, campaign_id: str = "promo") -> dict:
    status, _h, body = stack.api("GET", f"/v1/analytics/campaigns/{campaign_id}", headers=KEY)
    assert status == 200, body
    return json.loads(body)


def test_campaign_kpis_attribution_refund_and_holdout_uplift_match_the_hand_computed_scenario(stack) -> None:
    from nudgeloop.dal import deliverability, ledger
    from nudgeloop.domain.journeys import in_holdout

    stack.put_campaign("promo.yaml", PROMO.encode())
    candidates = [f"a{i:02d}" for i in range(40)]
    treated = [c for c in candidates if not in_holdout("promo", c, 50)][:8]
    held = [c for c in candidates if in_holdout("promo", c, 50)][:3]
    t = dict(enumerate(treated))
    simulator = {t[2]: f"bounce+{t[2]}@simulator.amazonses.com", t[3]: f"complaint+{t[3]}@simulator.amazonses.com"}
    for cid in treated + held:  # t2's mail bounces, t3 reports it as spam (SES's mailbox simulator)
        post_events(stack, [upsert(cid, **({"email": simulator[cid]} if cid in simulator else {})), consent(cid)])
    stack.settle()
    now = clock.now()
    deliverability.suppress(f"{t[5]}@customers.example", "hard_bounce", clock.iso(now))  # suppressed
    for i in range(3):  # three newsletters this week already: the contact policy caps t6
        item = ledger.reserve_send(
            t[6], f"other#x#{i}", {"customer_id": t[6], "campaign_id": "other", "step_id": "x", "purpose": "newsletter"}
        )
        ledger.complete_send(item, "sent", {"campaign_id": "other", "step_id": "x", "sent_at": clock.iso(now)}, f"earlier-{i}")
    post_events(stack, [promo(cid) for cid in treated + held])
    stack.settle()
    mails = {m["customer_id"]: m for m in stack.outbox() if m["campaign_id"] == "promo"}
    assert sorted(mails) == sorted([t[0], t[1], t[2], t[3], t[4], t[7]])  # holdout, t5 and t6 got none

    for i in (0, 1):
        stack.emit_ses_event(mails[t[i]]["message_id"], "Open")
    stack.emit_ses_event(mails[t[0]]["message_id"], "Click", {"link": "https://shop.example/tea"})
    stack.emit_ses_event(mails[t[0]]["message_id"], "Click", {"link": "https://shop.example/tea"})  # repeated: once
    token = parse_qs(urlsplit(mails[t[4]]["headers"]["List-Unsubscribe"].strip("<>")).query)["token"][0]
    for _ in range(2):  # a second click of the same link counts once
        assert stack.api("POST", "/v1/unsubscribe", query={"token": token})[0] == 200
    stack.settle()

    stack.advance(timedelta(days=2))  # 3 January 09:00
    post_events(stack, [order(t[0], "o1", at="2026-01-03T08:00:00Z", total="30.00")])  # converts (after the click)
    post_events(stack, [order(t[1], "o1", at="2026-01-03T08:00:00Z", total="20.00")])  # converts, refunded later
    post_events(stack, [order(held[0], "o1", at="2026-01-03T08:00:00Z", total="50.00")])  # holdout: no touch
    stack.settle()
    stack.advance(timedelta(days=1))  # the analytics run of 4 January attributes 3 January's arrivals
    mid = figures(stack)["steps"]["offer"]
    assert (mid["converted"], mid["revenue"]) == (2, {"EUR": "50.00"})
    refund = {
        "event_id": "refund-1",
        "type": "order.refunded",
        "customer_id": t[1],
        "occurred_at": "2026-01-04T10:00:00Z",
        "properties": {"order_id": "o1"},
    }
    post_events(stack, [refund])
    stack.settle()
    stack.advance(timedelta(days=7))  # 11 January: refund attributed back, windows closed and compared
    post_events(stack, [order(t[7], "o1", at="2026-01-11T10:00:00Z", total="9.00")])  # 10 days after the mail
    stack.settle()
    stack.advance(timedelta(days=1))

    out = figures(stack)
    assert out["entries"] == {"entered": 8, "holdout": 3, "not_in_audience": 0}
    offer = out["steps"]["offer"]
    expected = {
        "sent": 6,
        "capped": 1,
        "suppressed": 1,
        "no_consent": 0,
        "delivered": 5,
        "opened": 2,
        "clicked": 1,
        "bounced": 1,
        "complained": 1,
        "unsubscribed": 1,
        "converted": 1,
    }
    assert {k: offer[k] for k in expected} == expected
    assert offer["revenue"] == {"EUR": "30.00"}  # t1's refund took its 20.00 back; t7 ordered too late
    assert (offer["delivery_rate"], offer["open_rate"], offer["bounce_rate"]) == (round(5 / 6, 4), 0.4, round(1 / 6, 4))
    assert out["totals"]["conversion_rate"] == round(1 / 6, 4)
    uplift = out["uplift"]
    # treated: 8 entered, 1 ordered within 7 days (t1's order was refunded); holdout: 3, 1 ordered
    assert (uplift["treated"], uplift["treated_converted"], uplift["control"], uplift["control_converted"]) == (8, 1, 3, 1)
    assert uplift["uplift_pp"] == round(100 * (1 / 8 - 1 / 3), 2) and uplift["significant"] is False

    stack.advance(timedelta(days=3))  # nothing is counted twice by later runs
    assert figures(stack)["steps"]["offer"] == offer and figures(stack)["uplift"] == uplift

    # the export for BI tools: one JSON line per campaign and day
    from nudgeloop.adapters import aws

    body = aws.client("s3").get_object(Bucket=stack.res.buckets["data"], Key="analytics/campaigns/dt=2026-01-11/campaigns.jsonl")[
        "Body"
    ]
    rows = [json.loads(line) for line in body.read().decode().splitlines()]
    assert {r["campaign_id"] for r in rows} >= {"promo", "welcome"} and all(r["day"] == "2026-01-11" for r in rows)


def test_staircase_endpoint_gives_counts_per_day_and_flows_and_rejects_bad_ranges(stack) -> None:
    post_events(stack, [upsert("s1"), order("s1", "o1"), upsert("s2"), order("s2", "o1", at="2025-09-20T10:00:00Z")])
    stack.settle()
    stack.advance(timedelta(days=3))
    status, _h, body = stack.api("GET", "/v1/analytics/staircase", headers=KEY, query={"from": "2026-01-01", "to": "2026-01-03"})
    assert status == 200
    out = json.loads(body)
    assert [d["day"] for d in out["days"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert out["now"]["new"] == 1 and out["now"]["active"] == 1
    assert out["days"][0]["counts"] == {"new": 1, "active": 1}  # the end of 1 January
    # both first orders placed them on 1 January (the imported September order: straight to active)
    assert [d["flows"] for d in out["days"]] == [{"prospect>active": 1, "prospect>new": 1}, {}, {}]
    for query, field in (({"from": "2026-13-01"}, "from"), ({"from": "2026-01-05", "to": "2026-01-01"}, "to")):
        status, _h, body = stack.api("GET", "/v1/analytics/staircase", headers=KEY, query=query)
        assert status == 400 and json.loads(body)["error"]["field"] == field
    status, _h, body = stack.api("GET", "/v1/analytics/campaigns", headers=KEY)  # what a report lists
    shipped = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "campaigns" / "examples").glob("*.yaml"))
    assert status == 200 and [row["campaign_id"] for row in json.loads(body)["campaigns"]] == shipped
    status, _h, body = stack.api("GET", "/v1/analytics/campaigns/Not_An_Id", headers=KEY)
    assert status == 400 and json.loads(body)["error"]["field"] == "campaign_id"
