"""Outbound webhook deliveries (the engine table): one item per endpoint and event, with its
attempts and the receiver's last answer (the delivery report); waiting ones are on the
``by_due`` index until their next attempt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock

from . import keys
from .models import EngineItem
from .writes import put_once


@dataclass(frozen=True)
class Delivery:
    endpoint_id: str
    message_id: str
    event_type: str
    payload: str  # the body sent, the same bytes on every attempt
    status: str  # pending, delivered or failed (given up)
    attempts: int
    last_status: int | None  # the receiver's HTTP status (None: no answer)
    last_error: str | None
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None


def _delivery(item: EngineItem) -> Delivery:
    data: dict[str, Any] = dict(item.data or {})
    return Delivery(
        endpoint_id=keys.webhook_endpoint_of(item.pk),
        message_id=item.sk,
        event_type=str(data.get("type", "")),
        payload=str(data.get("payload", "")),
        status=str(item.status),
        attempts=int(data.get("attempts", 0)),
        last_status=data.get("last_status"),
        last_error=data.get("last_error"),
        created_at=str(item.created_at),
        delivered_at=data.get("delivered_at"),
        next_attempt_at=item.due_at,
    )


# a delivery (its payload names the customer) is kept for the report this long after it was made,
# then DynamoDB's TTL removes it (retries end within about two days: domain/webhooks.BACKOFF)
DELIVERY_KEEP = timedelta(days=30)


def record(endpoint_id: str, message_id: str, event_type: str, payload: bytes, now: datetime) -> Delivery | None:
    """A delivery to make, due now; None when this event was recorded for the endpoint before."""
    item = EngineItem(
        pk=keys.webhook_deliveries(endpoint_id),
        sk=message_id,
        status="pending",
        due_shard=keys.WEBHOOK_SHARD,
        due_at=clock.iso(now),
        data={"type": event_type, "payload": payload.decode(), "attempts": 0},
        created_at=clock.iso(now),
        expires_at=now + DELIVERY_KEEP,
    )
    return _delivery(item) if put_once(item, EngineItem.pk) else None


def due(until: datetime) -> Iterator[Delivery]:
    for item in EngineItem.by_due.query(keys.WEBHOOK_SHARD, EngineItem.due_at <= clock.iso(until)):
        yield _delivery(item)


def next_due() -> datetime | None:
    for item in EngineItem.by_due.query(keys.WEBHOOK_SHARD, limit=1):
        return clock.parse_iso(str(item.due_at))
    return None


def attempted(
    delivery: Delivery, status: int | None, error: str | None, now: datetime, *, delivered: bool, next_at: datetime | None
) -> None:
    """Record an attempt: ``delivered`` (the receiver took it), to be tried again at ``next_at``,
    or given up (neither)."""
    data = {
        "type": delivery.event_type,
        "payload": delivery.payload,
        "attempts": delivery.attempts + 1,
        "last_status": status,
        "last_error": error,
        "delivered_at": clock.iso(now) if delivered else None,
    }
    item = EngineItem(pk=keys.webhook_deliveries(delivery.endpoint_id), sk=delivery.message_id)
    waiting = next_at is not None and not delivered
    item.update(
        actions=[
            EngineItem.status.set("delivered" if delivered else "pending" if waiting else "failed"),
            EngineItem.data.set(data),
            EngineItem.due_shard.set(keys.WEBHOOK_SHARD) if waiting else EngineItem.due_shard.remove(),
            EngineItem.due_at.set(clock.iso(next_at)) if waiting and next_at else EngineItem.due_at.remove(),
        ]
    )


def report(endpoint_id: str, limit: int = 100) -> list[Delivery]:
    """An endpoint's deliveries, newest event id last (ids sort by the event's id)."""
    return [_delivery(i) for i in EngineItem.query(keys.webhook_deliveries(endpoint_id), limit=limit)]
