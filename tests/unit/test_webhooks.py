"""The outbound webhooks' pure rules: endpoints as configured, secrets, the Standard Webhooks
signature, and the backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nudgeloop.domain import webhooks

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_endpoints_are_validated_naming_the_endpoint_and_field() -> None:
    ok = webhooks.parse_endpoints('[{"id": "loyalty", "url": "https://l.example/hook", "events": ["loyalty.points_granted"]}]')
    assert [e.id for e in ok] == ["loyalty"]
    assert webhooks.parse_endpoints("") == ()
    cases = {
        '[{"id": "x", "url": "http://loyalty.example/hook", "events": ["loyalty.points_granted"]}]': "0.url",
        '[{"id": "x", "url": "https://loyalty.example/hook", "events": ["order.completed"]}]': "0.events",
        '[{"id": "X!", "url": "https://loyalty.example/hook", "events": ["loyalty.points_granted"]}]': "0.id",
        '[{"id": "x", "url": "https://a.example", "events": []}]': "0.events",
    }
    for text, where in cases.items():
        with pytest.raises(ValueError, match=f"webhooks: {where}"):
            webhooks.parse_endpoints(text)
    one = '{"id": "x", "url": "https://a.example", "events": ["loyalty.points_granted"]}'
    with pytest.raises(ValueError, match="unique"):
        webhooks.parse_endpoints(f"[{one}, {one}]")
    # plain http only to this machine (local testing)
    assert webhooks.parse_endpoints('[{"id": "x", "url": "http://127.0.0.1:9/h", "events": ["loyalty.points_granted"]}]')


def test_each_endpoint_has_its_own_secret_and_the_signature_is_the_standard_one() -> None:
    from standardwebhooks.webhooks import Webhook

    key = b"k" * 32
    first, second = webhooks.secret_for(key, "loyalty"), webhooks.secret_for(key, "crm")
    assert first.startswith("whsec_") and first != second and webhooks.secret_for(key, "loyalty") == first
    body = b'{"type":"loyalty.points_granted"}'
    headers = webhooks.headers(first, "points-1", NOW, body)
    assert headers["webhook-signature"] == Webhook(first).sign("points-1", NOW, body.decode())
    assert headers["webhook-signature"] != Webhook(second).sign("points-1", NOW, body.decode())
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))


def test_the_backoff_ends_after_its_last_step() -> None:
    assert webhooks.next_attempt(1, NOW) == NOW + timedelta(minutes=1)
    assert webhooks.next_attempt(len(webhooks.BACKOFF), NOW) == NOW + webhooks.BACKOFF[-1]
    assert webhooks.next_attempt(len(webhooks.BACKOFF) + 1, NOW) is None
    assert webhooks.taken(204) and not webhooks.taken(302) and not webhooks.taken(500)
