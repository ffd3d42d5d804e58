"""What Nudgeloop writes into customers' histories to be published from there: the events
stream's consumer publishes each such entry it is delivered, so it is published once written
(at least once: a batch delivered again publishes again, and every subscriber is idempotent by
the entry's id).

- a migration (``segment.migrated``), saved with the customer's step (``segmenting.recording``),
  as ``SegmentMigrated`` for the journeys;
- loyalty points a journey granted (``loyalty.points_granted``), as an ``OutboundEvent`` for the
  outbound webhooks (``services/webhooks``).
"""

from __future__ import annotations

from nudgeloop.adapters.bus import BusEvent, Publisher
from nudgeloop.domain import webhooks
from nudgeloop.domain.events import JOURNEY_SOURCE, POINTS_GRANTED, Event
from nudgeloop.services import segmenting


def bus_event(entry: Event) -> BusEvent | None:
    """The bus event of a history entry written to be published; None for any other event."""
    if entry.type == POINTS_GRANTED and entry.source == JOURNEY_SOURCE:
        detail = {
            "event_id": entry.event_id,
            "type": entry.type,
            "customer_id": entry.customer_id,
            "at": entry.occurred_iso(),
            "data": {"customer_id": entry.customer_id, "granted_at": entry.occurred_iso(), **entry.properties},
        }
        return BusEvent(source=webhooks.BUS_SOURCE, detail_type=webhooks.BUS_DETAIL_TYPE, detail=detail)
    return segmenting.published(entry)


def publish(events: list[Event], publisher: Publisher) -> int:
    """Publish the entries among a stream batch's events, 10 to a PutEvents; returns how many."""
    outgoing = [b for b in map(bus_event, events) if b is not None]
    if outgoing:
        publisher.publish(outgoing)
    return len(outgoing)
