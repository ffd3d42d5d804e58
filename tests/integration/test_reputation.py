"""The reputation circuit breaker in a local scenario with injected bounces: marketing pauses at
a 2.5 % bounce rate, held journeys send nothing (and nothing twice), service mail keeps going,
and one command resumes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import KEY, consent, post_events, upsert

PROMO = """
id: promo
name: Promo
consent_purpose: newsletter
trigger: {type: behaviour, event: custom.promo}
reentry: every_occurrence
steps:
  - {id: offer, type: send, template: newsletter}
"""


def promo(cid: str, n: int = 0) -> dict:
    return {
        "event_id": f"promo-{cid}-{n}",
        "type": "custom.promo",
        "customer_id": cid,
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {},
    }


@pytest.fixture
def judged_at_20_mails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUDGELOOP_REPUTATION_MIN_SENDS", "20")  # before the stack starts


def deliverability(stack) -> dict:
    status, _h, body = stack.api("GET", "/v1/analytics/deliverability", headers=KEY)
    assert status == 200
    return json.loads(body)


def sending_enabled(stack, name: str) -> bool:
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        return bool(client("sesv2").get_configuration_set(ConfigurationSetName=name)["SendingOptions"]["SendingEnabled"])


def promos(stack, cid: str) -> list[dict]:
    return [m for m in stack.outbox() if m["campaign_id"] == "promo" and m["customer_id"] == cid]


def test_bounces_pause_marketing_hold_journeys_spare_service_mail_and_resume_with_one_command(judged_at_20_mails, stack) -> None:
    stack.put_campaign("promo.yaml", PROMO.encode())
    good = [f"g{i:02d}" for i in range(25)]
    for cid in good:
        post_events(stack, [upsert(cid), consent(cid)])
    post_events(stack, [upsert("b1", email="bounce+b1@simulator.amazonses.com"), consent("b1"), upsert("h1"), consent("h1")])
    post_events(stack, [promo(cid) for cid in good])
    stack.settle()
    assert deliverability(stack)["window"]["sent"] == 25 and deliverability(stack)["paused"] is None

    post_events(stack, [promo("b1")])  # 1 bounce in 26 mails: 3.8 %, at least 2.5 %
    stack.settle()
    report = deliverability(stack)
    assert report["window"] == {"sent": 26, "bounced": 1, "complained": 0, "bounce_rate": 0.03846, "complaint_rate": 0.0}
    assert report["paused"]["reason"] == "bounce_rate"
    assert not sending_enabled(stack, "nudgeloop-mail") and sending_enabled(stack, "nudgeloop-service")

    # a marketing journey now is held, hour after hour, and sends nothing
    post_events(stack, [promo("h1")])
    stack.settle()
    stack.advance(timedelta(hours=3))
    assert promos(stack, "h1") == []
    # service mail keeps going: a double opt-in confirmation
    post_events(stack, [upsert("s1"), consent("s1", status="pending", purpose="marketing")])
    stack.settle()
    assert [m["customer_id"] for m in stack.outbox() if m["campaign_id"] == "double-opt-in"] == ["s1"]

    # one command resumes: the configuration set is on, the held mail goes at its next try, once
    from nudgeloop_cli.local.server import control

    status, _h, body = control(stack, "POST", "/_local/marketing/resume", "")
    assert status == 200 and json.loads(body) == {"resumed": True, "was_paused_for": "bounce_rate"}
    assert sending_enabled(stack, "nudgeloop-mail")
    after = deliverability(stack)
    assert after["paused"] is None and after["window"]["sent"] == 0  # measured afresh
    stack.advance(timedelta(hours=2))
    assert len(promos(stack, "h1")) == 1
    stack.advance(timedelta(hours=3))
    assert len(promos(stack, "h1")) == 1
    # the pause and the resume are in the audit trail, with who did each
    status, _h, body = stack.api("GET", "/v1/audit", headers=KEY, query={"object": "marketing:pause"})
    trail = [(e["action"], e["actor"]) for e in json.loads(body)["entries"]]
    assert trail == [("resumed", "local:operator"), ("paused", "system:reputation")]


def test_a_long_pause_parks_held_journeys_until_resume_without_growing_their_history(stack) -> None:
    """Held journeys wait on a timer only resume releases: 60 paused days add no history (an
    hourly retry loop would have added ~25 events an hour and failed at 25,000 in ~40 days)."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.dal import deliverability, keys, models
    from nudgeloop.services import reputation

    stack.put_campaign("promo.yaml", PROMO.encode())
    post_events(stack, [upsert("h1"), consent("h1")])
    stack.settle()
    with stack.aws_lock:
        deliverability.pause_marketing("bounce_rate", {"sent": 0})
    post_events(stack, [promo("h1")])
    stack.settle()

    def history() -> int:
        with stack.aws_lock:
            sfn = client("stepfunctions")
            run = next(
                e
                for e in sfn.list_executions(stateMachineArn=stack.res.state_machine_arn)["executions"]
                if e["name"].startswith("promo-")
            )
            assert run["status"] == "RUNNING"
            return len(sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"])

    before = history()
    stack.advance(timedelta(days=60))
    assert history() == before and promos(stack, "h1") == []
    with stack.aws_lock:
        assert {t.status for t in models.EngineItem.by_due.query(keys.HELD_SHARD)} == {"held"}
        reputation.resume(stack.catalog.configuration_set, "local:operator")
    stack.advance(timedelta(minutes=2))
    assert len(promos(stack, "h1")) == 1
