"""Outbound webhooks: an event published for the shop's systems is recorded once per subscribed
endpoint and POSTed, signed; what was not taken is tried again by the sweep on a backoff
(``domain/webhooks.BACKOFF``), then given up, each attempt kept for the delivery report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nudgeloop.adapters.http import Poster
from nudgeloop.dal import webhook_deliveries
from nudgeloop.dal.webhook_deliveries import Delivery
from nudgeloop.domain import webhooks
from nudgeloop.domain.webhooks import Endpoint
from nudgeloop.observability import logger


def accept(detail: dict[str, Any], endpoints: tuple[Endpoint, ...], signing_key: bytes, now: datetime, post: Poster) -> int:
    """Record the event (an ``OutboundEvent`` bus detail: ``event_id``, ``type``, ``at``,
    ``data``) for each endpoint subscribed to its type and try each at once; returns how many
    were taken. An event recorded before (the bus delivered it again) is left to its retries."""
    event_type = str(detail["type"])
    payload = webhooks.body(event_type, str(detail["at"]), dict(detail["data"]))
    taken = 0
    for endpoint in webhooks.subscribed(endpoints, event_type):
        delivery = webhook_deliveries.record(endpoint.id, str(detail["event_id"]), event_type, payload, now)
        if delivery is not None:
            taken += _attempt(delivery, endpoint, signing_key, now, post)
    return taken


def retry_due(endpoints: tuple[Endpoint, ...], signing_key: bytes, now: datetime, post: Poster) -> dict[str, int]:
    """Try every delivery whose next attempt has come; returns how many were taken and not."""
    by_id = {e.id: e for e in endpoints}
    counts = {"taken": 0, "not_taken": 0}
    for delivery in list(webhook_deliveries.due(now)):
        endpoint = by_id.get(delivery.endpoint_id)
        if endpoint is None:  # the endpoint was removed from the configuration: nowhere to go
            webhook_deliveries.attempted(delivery, None, "endpoint no longer configured", now, delivered=False, next_at=None)
            counts["not_taken"] += 1
            continue
        ok = _attempt(delivery, endpoint, signing_key, now, post)
        counts["taken" if ok else "not_taken"] += 1
    return counts


def _attempt(delivery: Delivery, endpoint: Endpoint, signing_key: bytes, now: datetime, post: Poster) -> bool:
    payload = delivery.payload.encode()
    secret = webhooks.secret_for(signing_key, endpoint.id)
    status, error = post(endpoint.url, payload, webhooks.headers(secret, delivery.message_id, now, payload), webhooks.TIMEOUT_S)
    taken = status is not None and webhooks.taken(status)
    attempts = delivery.attempts + 1
    next_at = None if taken else webhooks.next_attempt(attempts, now)
    webhook_deliveries.attempted(delivery, status, error, now, delivered=taken, next_at=next_at)
    if not taken:
        log = logger.warning if next_at is not None else logger.error
        log(
            "webhook not taken" + ("" if next_at is not None else ": given up"),
            extra={
                "endpoint": endpoint.id,
                "webhook_id": delivery.message_id,
                "status": status,
                "error": error,
                "attempts": attempts,
            },
        )
    return taken


def endpoint_secret(signing_secret_name: str, endpoint_id: str) -> str:
    """The secret the receiver at ``endpoint_id`` verifies signatures with (``nudgeloop webhooks
    secret``): derived from the stack's signing key, so rotating that key rotates these."""
    from nudgeloop.adapters.secrets import signing_key

    return webhooks.secret_for(signing_key(signing_secret_name), endpoint_id)


def delivery_report(endpoint_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """An endpoint's deliveries with their attempts and the receiver's last answer."""
    return [
        {
            "webhook_id": d.message_id,
            "type": d.event_type,
            "status": d.status,
            "attempts": d.attempts,
            "last_status": d.last_status,
            "last_error": d.last_error,
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
            "next_attempt_at": d.next_attempt_at,
        }
        for d in webhook_deliveries.report(endpoint_id, limit)
    ]
