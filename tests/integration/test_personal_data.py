"""GET /v1/customers/{id}/export (GDPR access and portability): everything the stack holds about
one person, from every store, as one document; admin keys only."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from tests.conftest import KEY, consent, order, post_events, upsert

ROOT = Path(__file__).resolve().parents[2]
READ = {"x-api-key": "local-read-key-for-development"}


def test_a_persons_export_holds_profile_consent_proof_steps_mails_with_content_vouchers_clv_and_audiences(stack: Any) -> None:
    from nudgeloop.dal import insights, memberships

    stack.load_examples()
    post_events(stack, [upsert("p1"), consent("p1"), order("p1", "o1"), upsert("p2")])
    stack.settle()
    stack.advance(timedelta(days=3, hours=2))  # the welcome mail, then the follow-up with its voucher
    text = (ROOT / "audiences" / "examples" / "newsletter-subscribers.yaml").read_text()
    assert stack.api("PUT", "/v1/audiences/newsletter-subscribers", headers=KEY, body=text)[0] == 200
    with stack.aws_lock:  # as the daily membership evaluation writes it (services/audience_memberships)
        memberships.enter("newsletter-subscribers", "p1", "r1", stack.clock.now())
        insights.save_clv({"p1": {"expected_value_12m": 42.5}}, {"fitted_at": "2026-01-01"})

    status, _h, body = stack.api("GET", "/v1/customers/p1/export", headers=KEY)
    assert status == 200, body
    found = json.loads(body)
    assert found["customer_id"] == "p1" and found["profile"]["email"] == "p1@customers.example"
    assert found["consents"]["newsletter"]["status"] == "opt_in"
    [statement] = found["consent_statements"]
    assert statement["properties"]["purpose"] == "newsletter" and statement["received_at"]
    assert [m["to"] for m in (e["properties"] for e in found["step_history"])] == ["new"]
    assert found["aggregates"]["orders"] == 1
    assert found["clv"]["expected_value_12m"] == 42.5
    assert found["audiences"] == ["newsletter-subscribers"]
    sent = [m for m in found["mails"] if m["status"] == "sent"]
    assert [m["step_id"] for m in sorted(sent, key=lambda m: m["sent_at"])] == ["welcome", "followup"]
    with stack.aws_lock:  # moto answers the presigned link (it intercepts requests in process)
        archived = requests.get(sent[0]["archived"], timeout=10)
    assert archived.status_code == 200 and b"p1@customers.example" in archived.content
    [voucher] = found["vouchers"]
    assert voucher["code"].startswith("WELCOME") and voucher["customer_id"] == "p1"
    assert next(m for m in sent if m["step_id"] == "followup")["voucher"] == voucher["code"]
    assert {e["type"] for e in found["events"]} >= {"customer.upserted", "consent.changed", "order.completed"}
    assert found["events_next"] is None
    # nothing of another person
    assert "p2" not in body.replace('"p1"', "")


def test_an_unknown_person_is_404_and_a_read_key_may_not_export(stack: Any) -> None:
    post_events(stack, [upsert("p1")])
    stack.settle()
    status, _h, body = stack.api("GET", "/v1/customers/nobody/export", headers=KEY)
    assert status == 404 and json.loads(body)["error"]["field"] == "customer_id"
    status, _h, body = stack.api("GET", "/v1/customers/p1/export", headers=READ)
    assert status == 403 and json.loads(body)["needs"] == ["admin"]
