"""Placing a customer on the staircase and emitting migrations (shared by the real-time path
and the daily run)."""

from __future__ import annotations

from datetime import date

from nudgeloop import clock
from nudgeloop.adapters.bus import BusEvent
from nudgeloop.dal import repo
from nudgeloop.dal.models import CustomerModel
from nudgeloop.domain.aggregates import aggregate, counted
from nudgeloop.domain.events import Event
from nudgeloop.domain.staircase import Staircase, place

SOURCE = "nudgeloop.segment"


def history_event(migration: BusEvent) -> Event:
    """The migration as an entry in the customer's event history (segment history)."""
    d = migration.detail
    return Event(
        event_id=f"seg-{d['on']}-{d['from']}-{d['to']}",
        type="segment.migrated",
        customer_id=d["customer_id"],
        occurred_at=clock.parse_iso(d["at"]),
        source="nudgeloop.segment",
        properties={k: d[k] for k in ("from", "to", "on", "reason", "staircase_version")},
        received_at=clock.now(),
    )


def record(migration: BusEvent | None) -> None:
    """Keep a saved migration in the customer's history (idempotent by id)."""
    if migration is not None:
        repo.store_event(history_event(migration))


def refresh(customer: CustomerModel, stairs: Staircase, today: date, reason: str) -> BusEvent | None:
    """Recompute aggregates and segment from the order log; return the migration, if any."""
    orders = repo.order_facts(customer.customer_id)
    agg = aggregate(orders)
    customer.orders_count = agg.orders
    customer.revenue = float(agg.revenue)
    customer.first_order_at = clock.iso(agg.first_order_at) if agg.first_order_at else None
    customer.last_order_at = clock.iso(agg.last_order_at) if agg.last_order_at else None
    customer.avg_days_between_orders = agg.avg_days_between_orders
    placement = place([o.occurred_at.date() for o in counted(orders)], today, stairs)
    repo.set_review(customer, placement.review_on)
    previous = customer.segment or "prospect"
    customer.staircase_version = stairs.version
    if placement.segment == previous:
        return None
    customer.segment = placement.segment
    customer.segment_since = today.isoformat()
    return BusEvent(
        source=SOURCE,
        detail_type="SegmentMigrated",
        detail={
            "customer_id": customer.customer_id,
            "from": previous,
            "to": placement.segment,
            "at": clock.iso(clock.now()),
            "on": today.isoformat(),
            "reason": reason,
            "staircase_version": stairs.version,
        },
    )
