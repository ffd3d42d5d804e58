"""The audience tables (``domain/audience_schema.TABLES``) as rows, from the stack's own data: the
customers table (profiles, consent, step), the event log (orders, behaviour, mail feedback,
migrations) and the CLV read model.

The embedded engine (``nudgeloop local``) loads these rows; in AWS the same rows are what a
snapshot writes for Athena (docs/audiences.md, its freshness and what is still to build).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nudgeloop import clock
from nudgeloop.dal import customer_store, event_log, insights
from nudgeloop.domain.aggregates import OrderFact
from nudgeloop.domain.audience_schema import TABLES
from nudgeloop.domain.events import MIGRATION, Event
from nudgeloop.domain.ses_events import FEEDBACK_TYPES

Rows = dict[str, list[tuple[Any, ...]]]


def _utc(moment: datetime) -> datetime:
    """Naive UTC, as both engines' TIMESTAMP holds it."""
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def snapshot() -> Rows:
    """Every audience table's rows, read now (full scans: an evaluation's input, not a hot path)."""
    rows: Rows = {name: [] for name in TABLES}
    for customer in customer_store.all_customers():
        rows["customers"].append(
            (
                customer.customer_id,
                customer.email,
                customer.first_name,
                customer.last_name,
                customer.country,
                customer.locale,
                customer.timezone,
                customer.gender,
                customer.birthday,
                (customer.address or {}).get("postal_code"),
                (customer.address or {}).get("city"),
                json.dumps(customer.address, separators=(",", ":")) if customer.address else None,
                json.dumps(customer.attributes, separators=(",", ":"), default=str),
                customer.step,
                customer.step_since,
            )
        )
        for purpose, statement in customer.consents.items():
            at = statement.get("occurred_at")
            rows["consents"].append(
                (customer.customer_id, purpose, statement.get("status"), _utc(clock.parse_iso(at)) if at else None)
            )
        for booking in customer.bookings:
            rows["bookings"].append(
                (
                    customer.customer_id,
                    str(booking["booking_id"]),
                    booking.get("service"),
                    _utc(clock.parse_iso(str(booking["starts_at"]))),
                )
            )
    for customer_id, orders in event_log.orders_by_customer():
        _order_rows(rows, customer_id, orders)
    _event_rows(rows, event_log.all_events())
    for customer_id, values in insights.all_clv():
        rows["clv"].append(
            (customer_id, values.get("expected_value_12m"), values.get("p_alive"), values.get("expected_purchases_90d"))
        )
    return rows


def _order_rows(rows: Rows, customer_id: str, orders: list[OrderFact]) -> None:
    for o in orders:
        at = _utc(o.occurred_at)
        rows["orders"].append(
            (customer_id, o.order_id, at, int(o.occurred_at.timestamp()), o.channel, o.currency, float(o.total), o.refunded)
        )
        for line in o.lines:
            rows["order_items"].append(
                (
                    customer_id,
                    o.order_id,
                    at,
                    o.channel,
                    o.currency,
                    line.sku,
                    line.category,
                    line.quantity,
                    float(line.price * line.quantity),
                    o.refunded,
                )
            )


def _event_rows(rows: Rows, events: Iterable[Event]) -> None:
    moves: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        at = _utc(e.occurred_at)
        if e.type in FEEDBACK_TYPES:
            message = e.properties.get("message_id")
            if message:
                rows["mails"].append((e.customer_id, str(message), e.type.removeprefix("email."), at))
        elif e.type == MIGRATION:
            moves[e.customer_id].append(e)
        props = json.dumps(e.properties, separators=(",", ":"), default=str)  # every type, orders too
        rows["events"].append((e.customer_id, e.event_id, e.type, at, at.date().isoformat(), props))
    for customer_id, found in moves.items():
        for e in found:
            rows["migrations"].append(
                (customer_id, str(e.properties.get("from")), str(e.properties.get("to")), _utc(e.occurred_at))
            )
