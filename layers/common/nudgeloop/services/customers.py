"""Read models served by the HTTP API."""

from __future__ import annotations

from typing import Any

from nudgeloop.dal import repo


def view(customer_id: str) -> dict[str, Any] | None:
    customer = repo.get_customer(customer_id)
    if customer is None:
        return None
    return {
        "customer_id": customer.customer_id,
        "profile": {
            name: getattr(customer, name)
            for name in ("email", "first_name", "last_name", "locale", "timezone", "birthday", "gender", "country")
            if getattr(customer, name) is not None
        },
        "attributes": customer.attributes or {},
        "segment": customer.segment,
        "segment_since": customer.segment_since,
        "consents": dict(customer.consents or {}),
        "aggregates": {
            "orders": int(customer.orders_count or 0),
            "revenue": round(float(customer.revenue or 0), 2),
            "first_order_at": customer.first_order_at,
            "last_order_at": customer.last_order_at,
            "avg_days_between_orders": customer.avg_days_between_orders,
        },
        "clv": repo.clv_of(customer_id),
        "mails": [
            {
                "campaign_step": item.sk,
                "status": item.status,
                **{k: v for k, v in (item.data or {}).items() if k in ("message_id", "sent_at")},
            }
            for item in repo.ledger(customer_id)
        ],
    }
