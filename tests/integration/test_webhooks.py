"""Outbound webhooks on the local runtime: loyalty points a journey grants reach the shop's
endpoint signed (checked with the Standard Webhooks library), once, retried on a backoff until
taken, then given up; each attempt in the delivery report."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import consent, order, post_events, upsert
from tests.integration.conftest import Receiver


@pytest.fixture
def loyalty_endpoint(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = {"id": "loyalty", "url": receiver.url, "events": ["loyalty.points_granted"]}
    monkeypatch.setenv("NUDGELOOP_WEBHOOKS", json.dumps([endpoint]))


@pytest.fixture
def loyalty_stack(loyalty_endpoint: None, stack: Any) -> Any:
    """The shipped stack (conftest's), started with the loyalty endpoint configured."""
    return stack


def _referral(stack: Any) -> None:
    """f1 refers f2; f2's first order converts the referral (f1's points, once)."""
    referral = {
        "event_id": "ref-1",
        "type": "referral.created",
        "customer_id": "f1",
        "occurred_at": "2025-12-31T08:30:00Z",
        "properties": {"referee_email": "friend@customers.example", "code": "F1CODE"},
    }
    signup = {
        "event_id": "signup-f2",
        "type": "signup",
        "customer_id": "f2",
        "occurred_at": "2025-12-31T08:40:00Z",
        "properties": {"referral_code": "F1CODE"},
    }
    post_events(stack, [upsert("f1"), referral, upsert("f2"), consent("f2"), signup])  # f1 has no consent: points all the same
    stack.settle()
    post_events(stack, [order("f2", "o1", at="2025-12-31T09:00:00Z")])
    stack.settle()


def _secret(stack: Any) -> str:
    from nudgeloop.adapters.secrets import signing_key
    from nudgeloop.domain import webhooks

    with stack.aws_lock:
        return webhooks.secret_for(signing_key(stack.catalog.signing_secret_name), "loyalty")


def test_points_a_referral_earns_reach_the_loyalty_system_signed_and_once(loyalty_stack: Any, receiver: Receiver) -> None:
    from standardwebhooks.webhooks import Webhook

    _referral(loyalty_stack)
    post_events(loyalty_stack, [order("f2", "o2", at="2025-12-31T10:00:00Z")])  # a second order earns nothing more
    loyalty_stack.settle()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    payload = json.loads(request["body"])
    assert payload["type"] == "loyalty.points_granted"
    data = payload["data"]
    granted = (data["customer_id"], data["points"], data["reason"], data["campaign_id"])
    assert granted == ("f1", 100, "referral", "referral-points")
    # the Standard Webhooks signature, as the receiver's library computes it
    expected = Webhook(_secret(loyalty_stack)).sign(
        headers["webhook-id"], loyalty_stack.clock.now().replace(microsecond=0), request["body"].decode()
    )
    assert headers["webhook-timestamp"] == str(int(loyalty_stack.clock.now().timestamp()))
    assert headers["webhook-signature"] == expected
    assert Webhook(_secret(loyalty_stack) + "x").sign(headers["webhook-id"], loyalty_stack.clock.now(), "{}") != expected
    from nudgeloop.dal import event_log

    with loyalty_stack.aws_lock:
        granted = [e for e in event_log.customer_events("f1") if e.type == "loyalty.points_granted"]
    assert [e.event_id for e in granted] == [headers["webhook-id"]]  # the receiver de-duplicates by it


def test_a_receiver_that_fails_is_tried_again_on_the_backoff_until_it_takes_it(loyalty_stack: Any, receiver: Receiver) -> None:
    from nudgeloop.dal import webhook_deliveries

    receiver.answers = [503, 500]  # down twice, then up
    _referral(loyalty_stack)
    assert len(receiver.requests) == 1
    loyalty_stack.advance(timedelta(seconds=50))  # a minute after the failure, at the sweep after that
    assert len(receiver.requests) == 1
    loyalty_stack.advance(timedelta(minutes=6))
    assert len(receiver.requests) == 2
    loyalty_stack.advance(timedelta(minutes=2))  # then five minutes after the second failure
    assert len(receiver.requests) == 2
    loyalty_stack.advance(timedelta(minutes=8))
    assert len(receiver.requests) == 3
    ids = {r["headers"]["Webhook-Id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event every time
    assert len({r["body"] for r in receiver.requests}) == 1
    with loyalty_stack.aws_lock:
        [delivery] = webhook_deliveries.report("loyalty")
    assert (delivery.status, delivery.attempts, delivery.last_status, delivery.next_attempt_at) == ("delivered", 3, 200, None)
    loyalty_stack.advance(timedelta(days=3))
    assert len(receiver.requests) == 3  # taken: never again


def test_a_receiver_that_never_takes_it_is_given_up_after_the_backoff(loyalty_stack: Any, receiver: Receiver) -> None:
    from nudgeloop.dal import webhook_deliveries
    from nudgeloop.domain import webhooks

    receiver.answers = [500] * 20
    _referral(loyalty_stack)
    loyalty_stack.advance(timedelta(days=3))
    assert len(receiver.requests) == len(webhooks.BACKOFF) + 1
    with loyalty_stack.aws_lock:
        [delivery] = webhook_deliveries.report("loyalty")
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", len(webhooks.BACKOFF) + 1, 500)
    assert loyalty_stack.failures == []  # a receiver's failure is not the function's


def test_the_operator_reads_the_endpoint_secret_and_the_delivery_report(loyalty_stack: Any, receiver: Receiver) -> None:
    from nudgeloop_cli.local.server import control

    receiver.answers = [500]
    _referral(loyalty_stack)
    status, _headers, body = control(loyalty_stack, "GET", "/_local/webhooks/loyalty/secret", "")
    assert status == 200 and json.loads(body) == {"endpoint": "loyalty", "secret": _secret(loyalty_stack)}
    status, _headers, body = control(loyalty_stack, "GET", "/_local/webhooks/loyalty/deliveries", "", "limit=5")
    [delivery] = json.loads(body)
    assert status == 200
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("pending", 1, 500)
    assert delivery["next_attempt_at"] == "2026-01-01T09:01:00.000Z"  # a minute after the failure
    status, _headers, body = control(loyalty_stack, "GET", "/_local/webhooks/loyalty/deliveries", "", "limit=lots")
    assert status == 400 and json.loads(body)["error"]["field"] == "limit"
