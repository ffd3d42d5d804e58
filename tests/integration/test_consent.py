"""Consent paths: double opt-in with a signed, expiring confirmation link; the unsubscribe
link's preference page; expired and forged tokens refused."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import consent, get_customer, post_events, upsert


def pending(cid: str = "c1", at: str = "2025-12-31T08:00:00Z") -> dict[str, Any]:
    event = consent(cid, "pending", at)
    event["properties"].update(source="signup-form", proof={"form": "footer", "ip": "203.0.113.7"})
    return event


def confirmation_token(mail: dict[str, Any]) -> str:
    url = re.search(r"https?://\S+/v1/consent/confirm\?token=\S+", mail["text"]).group(0)
    return parse_qs(urlsplit(url).query)["token"][0]


def newsletter(stack: Any, cid: str = "c1") -> dict[str, Any]:
    return get_customer(stack, cid)[1]["consents"]["newsletter"]


def test_a_pending_sign_up_gets_one_confirmation_mail_and_only_its_link_opts_in(stack) -> None:
    post_events(stack, [upsert("c1"), pending()])
    stack.settle()
    post_events(stack, [pending()])  # the same statement again: no second mail
    stack.settle()
    mails = [m for m in stack.outbox() if m["campaign_id"] == "double-opt-in"]
    assert len(mails) == 1 and mails[0]["to"] == "c1@customers.example"
    assert "List-Unsubscribe" not in mails[0]["headers"]  # a service mail, not marketing
    assert newsletter(stack)["status"] == "pending"
    status, _h, page = stack.api("GET", "/v1/consent/confirm", query={"token": confirmation_token(mails[0])})
    assert status == 200 and "confirmed" in page
    stack.settle()
    held = newsletter(stack)
    assert (held["status"], held["source"]) == ("opt_in", "double_opt_in")
    from nudgeloop.dal import event_log

    statements = [e.properties for e in event_log.customer_events("c1", 50) if e.type == "consent.changed"]
    assert {"form": "footer", "ip": "203.0.113.7"} in [s.get("proof") for s in statements]  # proof kept
    confirmed = next(s for s in statements if s["status"] == "opt_in")
    assert confirmed["proof"]["method"] == "double-opt-in" and confirmed["proof"]["requested_at"] == "2025-12-31T08:00:00.000Z"
    status, _h, _p = stack.api("GET", "/v1/consent/confirm", query={"token": confirmation_token(mails[0])})
    assert status == 200  # opened twice: still confirmed, nothing new stored
    stack.settle()
    assert len([e for e in event_log.customer_events("c1", 50) if e.type == "consent.changed"]) == 2


def test_confirmation_links_expire_and_cannot_be_forged(stack) -> None:
    post_events(stack, [upsert("c1"), pending()])
    stack.settle()
    token = confirmation_token(stack.outbox()[-1])
    status, _h, body = stack.api("GET", "/v1/consent/confirm", query={"token": token[:-3] + "abc"})
    assert status == 403 and json.loads(body)["error"]["field"] == "token"
    status, _h, _b = stack.api("GET", "/v1/consent/confirm", query={})
    assert status == 400
    stack.advance(timedelta(days=8))
    status, _h, body = stack.api("GET", "/v1/consent/confirm", query={"token": token})
    assert status == 403 and "expired" in body
    stack.settle()
    assert newsletter(stack)["status"] == "pending"


def test_an_old_confirmation_link_does_not_overturn_a_later_opt_out(stack) -> None:
    post_events(stack, [upsert("c1"), pending()])
    stack.settle()
    token = confirmation_token(stack.outbox()[-1])
    post_events(stack, [consent("c1", "opt_out", "2025-12-31T09:00:00Z")])
    stack.settle()
    status, _h, _b = stack.api("GET", "/v1/consent/confirm", query={"token": token})
    assert status == 409
    stack.settle()
    assert newsletter(stack)["status"] == "opt_out"


def test_a_late_pending_statement_older_than_the_held_one_sends_nothing(stack) -> None:
    post_events(stack, [upsert("c1"), consent("c1", "opt_in", "2025-12-31T09:00:00Z")])
    stack.settle()
    post_events(stack, [pending(at="2025-12-30T08:00:00Z")])
    stack.settle()
    assert newsletter(stack)["status"] == "opt_in"
    assert not [m for m in stack.outbox() if m["campaign_id"] == "double-opt-in"]


def test_the_preference_page_can_opt_out_of_all_marketing_and_expired_links_are_refused(stack) -> None:
    from nudgeloop.adapters.secrets import signing_key
    from nudgeloop.services import preferences

    post_events(stack, [upsert("c1"), consent("c1"), consent("c1", purpose="marketing")])
    stack.settle()
    with stack.aws_lock:
        key = signing_key(stack.catalog.signing_secret_name)
        url = preferences.unsubscribe_url("https://api.example", key, "c1", "newsletter")
    token = parse_qs(urlsplit(url).query)["token"][0]
    status, headers, page = stack.api("GET", "/v1/unsubscribe", query={"token": token})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "Newsletter: subscribed" in page and "Offers and recommendations: subscribed" in page
    stack.settle()
    assert newsletter(stack)["status"] == "opt_in"  # GET changes nothing (mail scanners open links)
    status, _h, _b = stack.api("POST", "/v1/unsubscribe", query={"token": token, "all": "1"})
    assert status == 200
    stack.settle()
    consents = get_customer(stack, "c1")[1]["consents"]
    assert consents["newsletter"]["status"] == consents["marketing"]["status"] == "opt_out"
    from nudgeloop import clock
    from nudgeloop.domain import tokens

    claims = {"k": "unsub", "c": "c1", "p": "newsletter"}
    expired = tokens.sign(key, claims, clock.now() - timedelta(seconds=1))
    status, _h, body = stack.api("POST", "/v1/unsubscribe", query={"token": expired})
    assert status == 403 and "expired" in body
    assert timedelta(days=365) <= preferences.UNSUBSCRIBE_VALID  # links in old mails keep working a year


def test_a_bounced_confirmation_mail_reaches_the_feedback_path_and_suppresses_the_address(stack) -> None:
    """Service mail has its own configuration set; its bounces must be read too (the rule matches both)."""
    from nudgeloop.dal import deliverability, event_log

    address = "bounce+signup@simulator.amazonses.com"
    post_events(stack, [upsert("c1", email=address), pending()])
    stack.settle()
    mail = next(m for m in stack.outbox() if m["campaign_id"] == "double-opt-in")
    assert stack.sent_with[mail["message_id"]] == stack.catalog.service_configuration_set
    assert deliverability.suppression(address) == "hard_bounce"
    assert "email.bounced" in [e.type for e in event_log.customer_events("c1", 50)]
