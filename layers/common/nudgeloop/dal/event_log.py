"""The event log (the events table): events stored once, customers' histories, and the orders read from it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain import identity
from nudgeloop.domain.aggregates import OrderFact, OrderLine
from nudgeloop.domain.events import ORDER_TYPES, Event

from .models import EventModel
from .writes import put_once


def _model(event: Event) -> EventModel:
    return EventModel(
        customer_id=event.customer_id,
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_iso(),
        received_at=clock.iso(event.received_at),
        source=event.source,
        properties=event.properties,
    )


def store_event(event: Event) -> bool:
    """Store an event once; returns False when an event with that id is already stored."""
    return put_once(_model(event), EventModel.event_id)


def store_in(tx: TransactWrite, event: Event) -> None:
    """Store an event in a transaction (the history Nudgeloop writes together with the change it
    records). Unconditional: the same id written again (the same move on the same day, made a
    second time) replaces its entry, and the stream says so once more."""
    tx.save(_model(event))


def event_from_image(image: dict[str, Any]) -> Event:
    """An events-table item as the stream delivers it (NEW_IMAGE, deserialised) back to an Event."""
    raw_props = image.get("properties")
    return Event(
        event_id=image["event_id"],
        type=image["type"],
        customer_id=image["customer_id"],
        occurred_at=clock.parse_iso(image["occurred_at"]),
        source=image["source"],
        properties=json.loads(raw_props) if isinstance(raw_props, str) else (raw_props or {}),
        received_at=clock.parse_iso(image["received_at"]),
    )


def _event(item: EventModel) -> Event:
    """The plain value of a stored event (stored events were validated when they came in)."""
    return Event.model_construct(
        event_id=item.event_id,
        type=item.type,
        customer_id=item.customer_id,
        occurred_at=clock.parse_iso(item.occurred_at),
        source=item.source,
        properties=dict(item.properties or {}),
        received_at=clock.parse_iso(item.received_at),
    )


def _newest_first(items: list[EventModel]) -> list[EventModel]:
    return sorted(items, key=lambda e: (e.occurred_at, e.event_id), reverse=True)


def get_event(customer_id: str, event_id: str) -> Event | None:
    """One stored event (a consistent GetItem), or None."""
    try:
        return _event(EventModel.get(customer_id, event_id, consistent_read=True))
    except EventModel.DoesNotExist:
        return None


def customer_events(customer_id: str, limit: int = 100) -> list[Event]:
    """The customer's newest events (one Query of their partition, sorted here)."""
    return [_event(i) for i in _newest_first(list(EventModel.query(customer_id)))[:limit]]


def customer_events_page(
    customer_id: str, limit: int, before: tuple[str, str] | None
) -> tuple[list[Event], tuple[str, str] | None]:
    """One page of a customer's history, newest first: the events older than ``before``
    (occurred_at, event_id) and the position to continue from. The partition is read whole and
    sorted, which keeps every event write at one unit (no index); a customer's history is
    hundreds of items, not millions."""
    ordered = [
        e for e in _newest_first(list(EventModel.query(customer_id))) if before is None or (e.occurred_at, e.event_id) < before
    ]
    page = ordered[:limit]
    more = len(ordered) > limit
    return [_event(i) for i in page], ((page[-1].occurred_at, page[-1].event_id) if more and page else None)


def engagement_since(customer_id: str, campaign_id: str, since: datetime) -> set[str]:
    """Which of ``opened``/``clicked`` the customer did with this campaign's mails since ``since``
    (SES feedback stored in their event partition)."""
    found: set[str] = set()
    cutoff = clock.iso(since)
    condition = EventModel.type.is_in("email.opened", "email.clicked") & (EventModel.occurred_at >= cutoff)
    for item in EventModel.query(customer_id, filter_condition=condition):
        if (item.properties or {}).get("campaign_id") == campaign_id:
            found.add(item.type.removeprefix("email."))
    return found


def _facts(items: list[EventModel]) -> list[OrderFact]:
    """Order facts from a customer's order events: the latest statement of an order (by arrival)
    counts once, whatever arrived twice; a refund of it marks it refunded, in any order."""
    completed: dict[str, EventModel] = {}
    refunded: set[str] = set()
    for item in items:
        props = item.properties or {}
        order_id = str(props.get("order_id", ""))
        if item.type == "order.refunded":
            refunded.add(order_id)
        elif order_id:
            held = completed.get(order_id)
            if held is None or (item.received_at, item.event_id) > (held.received_at, held.event_id):
                completed[order_id] = item
    return [_fact(order_id, item, order_id in refunded) for order_id, item in completed.items()]


def _fact(order_id: str, item: EventModel, refunded: bool) -> OrderFact:
    props = item.properties or {}
    items = [i for i in props.get("items", []) if i.get("sku")]
    return OrderFact(
        order_id=order_id,
        occurred_at=clock.parse_iso(item.occurred_at),
        total=Decimal(str(props.get("total", "0"))),
        currency=str(props.get("currency", "")),
        refunded=refunded,
        skus=tuple(str(i["sku"]) for i in items),
        channel=str(props.get("channel", "webshop")),
        lines=tuple(
            OrderLine(str(i["sku"]), i.get("category"), int(i.get("quantity", 1)), Decimal(str(i.get("price", "0"))))
            for i in items
        ),
    )


def order_facts(customer_id: str) -> list[OrderFact]:
    """The customer's orders (one Query of their event partition, order events kept)."""
    return _facts(list(EventModel.query(customer_id, filter_condition=EventModel.type.is_in(*ORDER_TYPES))))


def _customers_items(items: Iterable[EventModel]) -> Iterator[EventModel]:
    """The items of customers: a visitor's events kept under ``anon:<id>`` are no customer's
    (their copies are, once linked: domain/identity), so the scans that stand for "every
    customer" leave them out, as the audience tables do."""
    return (item for item in items if not identity.is_anonymous(item.customer_id))


def orders_by_customer() -> Iterator[tuple[str, list[OrderFact]]]:
    """Every customer's orders (a full scan for the aggregation jobs; a scan returns a
    partition's items together, so one pass groups them)."""
    current: str | None = None
    items: list[EventModel] = []
    for item in _customers_items(EventModel.scan(filter_condition=EventModel.type.is_in(*ORDER_TYPES))):
        if item.customer_id != current:
            if current is not None and (facts := _facts(items)):
                yield current, facts
            current, items = item.customer_id, []
        items.append(item)
    if current is not None and (facts := _facts(items)):
        yield current, facts


def all_baskets() -> Iterator[set[str]]:
    """Per customer, the SKUs of their counted orders."""
    for _customer, orders in orders_by_customer():
        basket = {sku for o in orders if not o.refunded for sku in o.skus}
        if basket:
            yield basket


def all_events() -> Iterator[Event]:
    """Every customer's stored event (a full scan: for audience snapshots, never on a hot path)."""
    for item in _customers_items(EventModel.scan()):
        yield _event(item)


def events_of_types_since(types: tuple[str, ...], since: datetime) -> Iterator[Event]:
    """Stored events of these types that occurred after ``since`` (a filtered full scan: for
    forecasts, never on a hot path)."""
    cutoff = clock.iso(since)
    for item in _customers_items(
        EventModel.scan(filter_condition=EventModel.type.is_in(*types) & (EventModel.occurred_at > cutoff))
    ):
        yield _event(item)
