"""Read models served by the HTTP API."""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.dal import customer_store, event_log, insights, ledger
from nudgeloop.domain.aggregates import aggregate
from nudgeloop.domain.events import PROFILE_FIELDS
from nudgeloop.services import cursors


def view(customer_id: str) -> dict[str, Any] | None:
    customer = customer_store.get_customer(customer_id)
    if customer is None:
        return None
    agg = aggregate(event_log.order_facts(customer_id))
    return {
        "customer_id": customer.customer_id,
        "profile": {name: getattr(customer, name) for name in PROFILE_FIELDS if getattr(customer, name) is not None},
        "attributes": customer.attributes or {},
        "segment": customer.step,
        "segment_since": customer.step_since,
        "consents": dict(customer.consents or {}),
        "aggregates": {
            "orders": agg.orders,
            "revenue": round(float(agg.revenue), 2),
            "first_order_at": clock.iso(agg.first_order_at) if agg.first_order_at else None,
            "last_order_at": clock.iso(agg.last_order_at) if agg.last_order_at else None,
            "avg_days_between_orders": agg.avg_days_between_orders,
        },
        "clv": insights.clv_of(customer_id),
        "mails": [
            {
                "campaign_step": item.key,
                "status": item.status,
                **{k: v for k, v in item.data.items() if k in ("message_id", "sent_at")},
            }
            for item in ledger.ledger(customer_id)
        ],
    }


def history(customer_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the customer's events, newest first, with the cursor for the next page."""
    items, last = event_log.customer_events_page(customer_id, limit, cursors.decode(cursor, customer_id))
    return {
        "events": [
            {
                "event_id": e.event_id,
                "type": e.type,
                "occurred_at": e.occurred_iso(),
                "received_at": clock.iso(e.received_at),
                "source": e.source,
                "properties": e.properties,
            }
            for e in items
        ],
        "next": cursors.encode(customer_id, last),
    }
