"""Anonymous visitors joined to customers (domain/identity.py): at ingest, events of a visitor
already linked go straight to the customer; in processing, a link copies the visitor's kept
events to the customer, and an event kept after the link follows it."""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.dal import event_log, identities
from nudgeloop.domain import identity
from nudgeloop.domain.events import Event
from nudgeloop.observability import logger


def resolve(raw_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with each anonymous customer id that is linked replaced by its customer."""
    anonymous = {str(e["customer_id"]) for e in raw_events if identity.is_anonymous(str(e.get("customer_id", "")))}
    found = identities.links(anonymous)
    return [{**e, "customer_id": found[e["customer_id"]]} if e.get("customer_id") in found else e for e in raw_events]


def _copy(event: Event, customer_id: str) -> bool:
    """Store a visitor's event again as the customer's (same id: once, however often repeated)."""
    copy = event.model_copy(update={"customer_id": customer_id, "received_at": clock.now()})
    return event_log.store_event(copy)


def join(event: Event) -> int:
    """Apply a link or an anonymous event; returns how many events were stored for a customer.

    ``identity.linked``: link the visitor to the event's customer (unless already linked to
    another: then nothing is copied) and copy every event kept under the visitor, oldest first
    (the stream applies a customer's events in the order they are written). An anonymous event:
    copied to the customer if the visitor is linked by now, else kept."""
    if event.type == identity.LINKED:
        visitor = identity.anonymous_customer(str(event.properties["anonymous_id"]))
        owner = identities.link(visitor, event.customer_id)
        if owner != event.customer_id:
            logger.warning("anonymous id is linked to another customer already: not joined", extra={"event_id": event.event_id})
            return 0
        kept = sorted(event_log.customer_events(visitor, limit=10_000), key=lambda e: (e.occurred_at, e.event_id))
        copied = sum(_copy(e, owner) for e in kept)
        if copied:
            logger.info("anonymous events joined to the customer", extra={"events": copied})
        return copied
    linked = identities.linked_to(event.customer_id)
    if not linked or event_log.get_event(linked, event.event_id) is not None:
        return 0  # kept; or copied already by the link (a read costs a quarter of a refused write)
    return int(_copy(event, linked))
