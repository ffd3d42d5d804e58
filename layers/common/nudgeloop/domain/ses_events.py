"""The SES event vocabulary, once: each event type SES publishes from a configuration set, the
EventBridge detail-type it arrives under, the member of the event holding its details, and
the feedback kind it becomes here (stored as ``email.<kind>`` in the customer's history and
counted per campaign step under ``<kind>``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SesEventType:
    event_type: str  # ``eventType`` in the event
    detail_type: str  # EventBridge's ``detail-type``
    detail_key: str  # the member of the event with this type's details
    kind: str | None  # what it becomes here; None: routed, but not feedback we keep


VOCABULARY = (
    SesEventType("Send", "Email Sent", "send", "sent"),
    SesEventType("Delivery", "Email Delivered", "delivery", "delivered"),
    SesEventType("Open", "Email Opened", "open", "opened"),
    SesEventType("Click", "Email Clicked", "click", "clicked"),
    SesEventType("Bounce", "Email Bounced", "bounce", "bounced"),
    SesEventType("Complaint", "Email Complaint Received", "complaint", "complained"),
    SesEventType("Reject", "Email Rejected", "reject", "rejected"),
    SesEventType("Rendering Failure", "Email Rendering Failed", "failure", "rendering_failed"),
    SesEventType("DeliveryDelay", "Email Delivery Delayed", "deliveryDelay", "delivery_delayed"),
    SesEventType("Subscription", "Email Subscribed", "subscription", None),
)
ALIASES = {"RenderingFailure": "Rendering Failure"}  # SES spells this one both ways

DETAIL_TYPES = tuple(t.detail_type for t in VOCABULARY)  # what the feedback rule routes
FEEDBACK_TYPES = frozenset(f"email.{t.kind}" for t in VOCABULARY if t.kind)  # never accepted from clients
# Counted when the mail is sent (the ledger's send, in the transaction that records it): SES's
# Send event is kept on the customer's timeline (audiences read it) but not counted again.
COUNTED_AT_SEND = frozenset({"sent"})


def by_event_type(event_type: str) -> SesEventType | None:
    name = ALIASES.get(event_type, event_type)
    return next((t for t in VOCABULARY if t.event_type == name), None)
