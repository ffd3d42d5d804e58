"""SES feedback (via the configuration set's EventBridge destination) back into the loop."""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.dal import campaign_stats, customer_store, deliverability, event_log, ledger
from nudgeloop.domain import consent, idempotency, reputation, ses_events
from nudgeloop.domain.events import Event
from nudgeloop.observability import logger


def handle_ses_event(detail: dict[str, Any]) -> str:
    """Store one SES event against its customer and campaign; returns what happened."""
    known = ses_events.by_event_type(str(detail.get("eventType", "")))
    mail = detail.get("mail", {})
    message_id = mail.get("messageId")
    if known is None or known.kind is None or not message_id:
        logger.warning("unrecognised SES event ignored", extra={"event_type": detail.get("eventType")})
        return "ignored"
    kind = known.kind
    record = ledger.message_record(message_id)
    if record is None:
        logger.warning("SES event for an unknown message", extra={"kind": kind})
        return "unknown_message"
    sub = detail.get(known.detail_key) or {}
    at = sub.get("timestamp") or mail.get("timestamp") or clock.iso(clock.now())
    props: dict[str, Any] = {
        "message_id": message_id,
        "campaign_id": record["campaign_id"],
        "step_id": record["step_id"],
    }
    if kind == "bounced":
        props["bounce_type"] = sub.get("bounceType")
    if kind == "clicked" and sub.get("link"):
        props["link"] = sub["link"]
    event = Event(
        event_id=idempotency.feedback_event_id(message_id, kind, str(props.get("link", ""))),
        type=f"email.{kind}",
        customer_id=record["customer_id"],
        occurred_at=clock.parse_iso(at),
        source="ses",
        properties=props,
        received_at=clock.now(),
    )
    event_log.store_event(event)
    if kind in ses_events.COUNTED_AT_SEND:
        return kind
    counted = campaign_stats.record_feedback(
        record["campaign_id"],
        record["step_id"],
        kind,
        message_id,
        at,
        {"customer_id": record["customer_id"]},
        reputation=reputation.counts_feedback(kind),
    )
    if kind in ("bounced", "complained"):
        _suppress(record["customer_id"], kind, props.get("bounce_type"))
    return kind if counted else "duplicate"


def _suppress(customer_id: str, kind: str, bounce_type: str | None) -> None:
    """A hard bounce or a complaint puts the address on the suppression list (no mail of any
    purpose goes there again); a complaint also opts the customer out of marketing."""
    if kind == "bounced" and bounce_type != "Permanent":
        return  # soft bounces (mailbox full, ...) are SES's to retry
    customer = customer_store.get_customer(customer_id)
    if customer is None or not customer.email:
        return
    now = clock.iso(clock.now())
    deliverability.suppress(customer.email, "hard_bounce" if kind == "bounced" else "complaint", now)
    if kind != "complained":
        return
    for _attempt in range(5):
        consents = dict(customer.consents or {})
        statement = {"status": "opt_out", "occurred_at": now, "source": "ses:complaint"}
        consents.update(dict.fromkeys(consent.MARKETING_PURPOSES, statement))
        customer.consents = consents
        if customer_store.save_customer(customer):
            return
        reloaded = customer_store.get_customer(customer_id)
        if reloaded is None:
            return
        customer = reloaded
