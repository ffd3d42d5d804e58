"""The links in a mail that act for the customer without a login: one-click unsubscribe (RFC
8058), the preference page behind it, and the double opt-in confirmation.

Each link carries a signed token bound to one customer and purpose that expires; what it does
is stored as a ``consent.changed`` event and applied through the events stream like any other
consent statement (the latest by ``occurred_at`` wins), with the link as proof.
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from nudgeloop import clock
from nudgeloop.dal import campaign_stats, customer_store, event_log
from nudgeloop.domain import consent, tokens
from nudgeloop.domain.events import Event

UNSUBSCRIBE_VALID = timedelta(days=400)  # mails are opened months later; RFC 8058 links must work
CONFIRM_VALID = timedelta(days=7)
PURPOSE_NAMES = {"newsletter": "Newsletter", "marketing": "Offers and recommendations", "service": "Service mails"}


def unsubscribe_url(base_url: str, key: bytes, customer_id: str, purpose: str, mail: str | None = None) -> str:
    """``mail`` (``campaign#step``) names the mail the link is in: its unsubscribes are counted there."""
    claims = {"k": "unsub", "c": customer_id, "p": purpose, "i": int(clock.now().timestamp()), **({"m": mail} if mail else {})}
    token = tokens.sign(key, claims, clock.now() + UNSUBSCRIBE_VALID)
    return f"{base_url.rstrip('/')}/v1/unsubscribe?token={quote(token)}"


def confirm_url(base_url: str, key: bytes, customer_id: str, purpose: str, requested_at: str) -> str:
    claims = {"k": "confirm", "c": customer_id, "p": purpose, "r": requested_at}
    token = tokens.sign(key, claims, clock.now() + CONFIRM_VALID)
    return f"{base_url.rstrip('/')}/v1/consent/confirm?token={quote(token)}"


def claims_of(key: bytes, token: str, kind: str) -> dict[str, Any]:
    """The token's claims; raises ``tokens.BadToken`` if forged, for another action, or expired."""
    return tokens.verify(key, token, kind, clock.now())


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _statement(customer_id: str, purpose: str, status: str, source: str, proof: dict[str, str], event_id: str) -> Event:
    now = clock.now()
    return Event(
        event_id=event_id,
        type="consent.changed",
        customer_id=customer_id,
        occurred_at=now,
        source=source,
        properties={"purpose": purpose, "status": status, "channel": "email", "source": source, "proof": proof},
        received_at=now,
    )


def opt_out(claims: dict[str, Any], token: str, everything: bool) -> list[str]:
    """Store the opt-out(s) the link asks for; returns the purposes opted out of."""
    purposes = list(consent.MARKETING_PURPOSES) if everything else [claims["p"]]
    # A link does not outlive a later opt-in of its purpose: an old mail's link, replayed after the
    # person subscribed again, changes nothing (links issued before "i" existed: 400 days before expiry).
    issued_s = int(claims.get("i") or int(claims.get("x", 0)) - UNSUBSCRIBE_VALID.total_seconds())
    issued = clock.iso(datetime.fromtimestamp(issued_s, UTC))
    customer = customer_store.get_customer(claims["c"])
    held = dict(customer.consents or {}) if customer else {}
    purposes = [
        p for p in purposes if not (held.get(p, {}).get("status") == "opt_in" and held[p].get("occurred_at", "") > issued)
    ]
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    for purpose in purposes:
        proof = {"method": "one-click" if not everything else "preference-page", "token": _token_id(token)}
        event_log.store_event(
            _statement(claims["c"], purpose, "opt_out", "unsubscribe", proof, f"unsub-{purpose}-{stamp}-{_token_id(token)}")
        )
    if purposes and "#" in str(claims.get("m", "")):  # counted for the mail the link was in, once per person
        campaign_id, step_id = str(claims["m"]).split("#", 1)
        campaign_stats.record_feedback(
            campaign_id, step_id, "unsubscribed", f"customer-{claims['c']}", clock.iso(clock.now()), {}
        )
    return purposes


def preference_page(claims: dict[str, Any], token: str) -> str:
    """The page behind the unsubscribe link: what this person gets, one button per choice."""
    customer = customer_store.get_customer(claims["c"])
    consents = dict(customer.consents or {}) if customer else {}
    safe = html.escape(quote(token))
    rows = "".join(
        f"<li>{html.escape(PURPOSE_NAMES[p])}: {'subscribed' if consent.allows(consents, p) else 'not subscribed'}</li>"
        for p in consent.MARKETING_PURPOSES
    )
    name = html.escape(PURPOSE_NAMES.get(claims["p"], claims["p"]))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        "<title>Your email preferences</title></head><body>"
        f"<h1>Your email preferences</h1><ul>{rows}</ul>"
        f"<form method='post' action='?token={safe}'><button type='submit'>Unsubscribe from: {name}</button></form>"
        f"<form method='post' action='?token={safe}&amp;all=1'>"
        "<button type='submit'>Unsubscribe from all marketing mails</button></form>"
        "<p>Service mails about your orders and bookings are not affected.</p></body></html>"
    )


def confirm(claims: dict[str, Any], token: str) -> str:
    """Double opt-in: turn the pending statement the link was sent for into ``opt_in``.
    Returns ``confirmed``, or ``replaced`` when a newer statement has replaced that request
    (an opt-out after the sign-up is not overturned by an old link)."""
    customer = customer_store.get_customer(claims["c"])
    held = dict(customer.consents or {}).get(claims["p"]) if customer else None
    if held is None:
        return "replaced"
    if held.get("status") == "opt_in" and held.get("source") == "double_opt_in":
        return "confirmed"  # the link was opened twice
    if held.get("status") != "pending" or held.get("occurred_at") != claims["r"]:
        return "replaced"
    proof = {"method": "double-opt-in", "token": _token_id(token), "requested_at": claims["r"]}
    event_log.store_event(_statement(claims["c"], claims["p"], "opt_in", "double_opt_in", proof, f"doi-{_token_id(token)}"))
    return "confirmed"


def page(title: str, message: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
