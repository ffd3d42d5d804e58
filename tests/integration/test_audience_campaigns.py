"""Saved audiences in campaigns on the local stack: once a day's snapshot is current, the
audiences campaigns name are evaluated again and only the changes are applied. A customer who
becomes a member starts the campaigns whose trigger is ``audience_entered`` (once); a campaign's
entry audience ``{saved: ID}`` admits members only. An audience's first evaluation is a baseline:
nobody "entered" then."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import KEY, consent, order, post_events, upsert
from tests.integration.test_audience_snapshot import _snapshot

ROOT = Path(__file__).resolve().parents[2]
TEA_WELCOME = b"""
id: tea-welcome
name: Welcome to the tea buyers
trigger: {type: audience_entered, audience: tea-buyers}
steps:
  - {id: hello, type: send, template: newsletter}
"""
TEA_TASTING = b"""
id: tea-tasting
name: The tasting invitation, for tea buyers only
trigger: {type: behaviour, event: custom.tasting_viewed}
audience: {saved: tea-buyers}
reentry: every_occurrence
steps:
  - {id: invite, type: send, template: newsletter}
"""


def _tea_order(customer_id: str, order_id: str, at: str) -> dict[str, Any]:
    event = order(customer_id, order_id, at=at)
    event["properties"]["items"][0]["category"] = "tea"
    return event


def _viewed(customer_id: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"tasting-{customer_id}-{n}",
        "type": "custom.tasting_viewed",
        "customer_id": customer_id,
        "occurred_at": "2026-01-01T09:00:00Z",
        "properties": {},
    }


def _mails(stack: Any, campaign_id: str) -> list[str]:
    return sorted(m["customer_id"] for m in stack.outbox() if m.get("campaign_id") == campaign_id)


def _member(stack: Any, customer_id: str) -> bool:
    from nudgeloop.dal import memberships

    with stack.aws_lock:
        return memberships.is_member("tea-buyers", customer_id)


def test_entering_a_saved_audience_starts_its_campaign_once_and_only_members_enter_its_entry_audience(stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    post_events(
        stack,
        [upsert("t1"), consent("t1"), _tea_order("t1", "o1", "2025-12-20T10:00:00Z"), upsert("t2"), consent("t2")],
    )
    stack.settle()
    text = (ROOT / "audiences" / "examples" / "tea-buyers.yaml").read_text()
    assert stack.api("PUT", "/v1/audiences/tea-buyers", headers=KEY, body=text)[0] == 200
    with stack.aws_lock:
        s3 = client("s3")
        s3.put_object(Bucket=stack.res.buckets["campaigns"], Key="campaigns/tea-welcome.yaml", Body=TEA_WELCOME)
        s3.put_object(Bucket=stack.res.buckets["campaigns"], Key="campaigns/tea-tasting.yaml", Body=TEA_TASTING)
    _snapshot(stack)
    stack.settle()
    # the first evaluation is the baseline: t1 is a member, and entered nothing
    assert (_member(stack, "t1"), _member(stack, "t2")) == (True, False)
    assert _mails(stack, "tea-welcome") == []
    post_events(stack, [_viewed("t1", 1), _viewed("t2", 1)])
    stack.settle()
    assert _mails(stack, "tea-tasting") == ["t1"]  # t2 is not a tea buyer
    # t2 buys tea: the next day's evaluation finds them entering
    post_events(stack, [_tea_order("t2", "o2", "2026-01-01T10:00:00Z")])
    stack.settle()
    stack.advance(timedelta(days=1))
    assert _member(stack, "t2")
    assert _mails(stack, "tea-welcome") == ["t2"]
    post_events(stack, [_viewed("t2", 2)])
    stack.settle()
    assert _mails(stack, "tea-tasting") == ["t1", "t2"]
    # another day: still a member, no second welcome; a refund takes t2 out of the audience
    refund = {
        "event_id": "refund-t2",
        "type": "order.refunded",
        "customer_id": "t2",
        "occurred_at": "2026-01-02T08:00:00Z",
        "properties": {"order_id": "o2"},
    }
    assert post_events(stack, [refund])[1]["accepted"] == 1
    stack.settle()
    stack.advance(timedelta(days=1))
    assert _mails(stack, "tea-welcome") == ["t2"]
    assert (_member(stack, "t1"), _member(stack, "t2")) == (True, False)
    post_events(stack, [_viewed("t2", 3)])
    stack.settle()
    assert _mails(stack, "tea-tasting") == ["t1", "t2"]  # t2's earlier invitation only


def test_applying_a_days_changes_is_resumable_and_a_row_applied_twice_changes_nothing(stack: Any) -> None:
    from nudgeloop.adapters.aws import client
    from nudgeloop.dal import memberships
    from nudgeloop.services import audience_memberships

    bucket = stack.res.buckets["data"]
    result = f"s3://{bucket}/athena-results/changes.csv"
    with stack.aws_lock:
        body = '"customer_id","change"\n"x1","entered"\n"x2","entered"\n"x3","left"\n'
        client("s3").put_object(Bucket=bucket, Key="athena-results/changes.csv", Body=body.encode())
        memberships.enter("a1", "x3", "r0", stack.clock.now())
        record = {"audience_id": "a1", "evaluated_at": "2026-01-01T09:00:00Z", "membership": {"run": "r1", "applied": 0}}
        assert audience_memberships.apply(record, result, deadline=0) is False  # out of time after the first row
        assert record["membership"] == {"run": "r1", "applied": 1, "baseline": True, "entered": 1, "left": 0}
        assert [memberships.is_member("a1", c) for c in ("x1", "x2", "x3")] == [True, False, True]
        assert not memberships.evaluated_before("a1")  # recorded only once all are applied
        assert audience_memberships.apply(record, result, deadline=float("inf")) is True
        assert record["membership"] == {"run": "r1", "applied": 3, "baseline": True, "entered": 2, "left": 1}
        assert [memberships.is_member("a1", c) for c in ("x1", "x2", "x3")] == [True, True, False]
        assert memberships.evaluated_before("a1")
        # the same changes applied again (a retried invocation): the same memberships
        again = {**record, "membership": {"run": "r1", "applied": 0}}
        assert audience_memberships.apply(again, result, deadline=float("inf")) is True
        assert [memberships.is_member("a1", c) for c in ("x1", "x2", "x3")] == [True, True, False]
