"""The data-access layer: every DynamoDB read and write the services make goes through here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain import consent
from nudgeloop.domain.aggregates import OrderFact
from nudgeloop.domain.events import ORDER_TYPES, Event, bounded_attributes
from nudgeloop.domain.reputation import hour_key
from nudgeloop.domain.step_counts import Tally
from nudgeloop.observability import logger
from nudgeloop.resources import COUNT_SHARDS, REVIEW_ATTRIBUTES, REVIEW_SHARDS, TIMER_SHARDS

from .models import CustomerModel, EngineItem, EventModel, RecsItem


def _conditional_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause in ("ConditionalCheckFailedException", "TransactionCanceledException")


def _put_once(item: Model, key: Attribute[str]) -> bool:
    """PutItem only if no item with this key exists; False when one does."""
    try:
        item.save(condition=key.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def _shard(key: str, shards: int) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards)


# ---------------------------------------------------------------- events


def store_event(event: Event) -> bool:
    """Store an event once; returns False when an event with that id is already stored."""
    item = EventModel(
        customer_id=event.customer_id,
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_iso(),
        received_at=clock.iso(event.received_at),
        source=event.source,
        properties=event.properties,
    )
    return _put_once(item, EventModel.event_id)


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


def _newest_first(items: list[EventModel]) -> list[EventModel]:
    return sorted(items, key=lambda e: (e.occurred_at, e.event_id), reverse=True)


def customer_events(customer_id: str, limit: int = 100) -> list[EventModel]:
    """The customer's newest events (one Query of their partition, sorted here)."""
    return _newest_first(list(EventModel.query(customer_id)))[:limit]


def customer_events_page(
    customer_id: str, limit: int, before: tuple[str, str] | None
) -> tuple[list[EventModel], tuple[str, str] | None]:
    """One page of a customer's history, newest first: the events older than ``before``
    (occurred_at, event_id) and the position to continue from. The partition is read whole and
    sorted, which keeps every event write at one unit (no index); a customer's history is
    hundreds of items, not millions."""
    ordered = [
        e for e in _newest_first(list(EventModel.query(customer_id))) if before is None or (e.occurred_at, e.event_id) < before
    ]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, ((page[-1].occurred_at, page[-1].event_id) if more and page else None)


# ---------------------------------------------------------------- orders (read from the event log)


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
    return [
        OrderFact(
            order_id=order_id,
            occurred_at=clock.parse_iso(item.occurred_at),
            total=Decimal(str((item.properties or {}).get("total", "0"))),
            currency=str((item.properties or {}).get("currency", "")),
            refunded=order_id in refunded,
            skus=tuple(str(i.get("sku")) for i in (item.properties or {}).get("items", []) if i.get("sku")),
        )
        for order_id, item in completed.items()
    ]


def order_facts(customer_id: str) -> list[OrderFact]:
    """The customer's orders (one Query of their event partition, order events kept)."""
    return _facts(list(EventModel.query(customer_id, filter_condition=EventModel.type.is_in(*ORDER_TYPES))))


def orders_by_customer() -> Iterator[tuple[str, list[OrderFact]]]:
    """Every customer's orders (a full scan for the aggregation jobs; a scan returns a
    partition's items together, so one pass groups them)."""
    current: str | None = None
    items: list[EventModel] = []
    for item in EventModel.scan(filter_condition=EventModel.type.is_in(*ORDER_TYPES)):
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


def save_clv(values: dict[str, dict[str, Any]], model: dict[str, Any]) -> None:
    """Per-customer CLV values and the fitted model, in the read model (BatchWriteItem, 25 a request)."""
    now = clock.iso(clock.now())
    with RecsItem.batch_write() as batch:
        for customer_id, data in values.items():
            batch.save(RecsItem(key=f"CLV#{customer_id}", data=data, updated_at=now))
        batch.save(RecsItem(key="CLV#MODEL", data=model, updated_at=now))


def clv_of(customer_id: str) -> dict[str, Any] | None:
    try:
        return dict(RecsItem.get(f"CLV#{customer_id}").data or {})
    except RecsItem.DoesNotExist:
        return None


# ---------------------------------------------------------------- recommendations


def recs_get(keys: list[str]) -> dict[str, Any]:
    """One BatchGetItem for a customer's recommendation blocks (at most 100 keys)."""
    unique = list(dict.fromkeys(keys))[:100]
    return {item.key: item.data for item in RecsItem.batch_get(unique)} if unique else {}


def recs_replace(new: dict[str, Any]) -> tuple[int, int]:
    """Write changed items and delete vanished ones (BatchWriteItem, 25 per request); returns
    (written, deleted)."""
    old = {item.key: item.data for item in RecsItem.scan()}
    now = clock.iso(clock.now())
    changed = [k for k, v in new.items() if old.get(k) != v]
    gone = [k for k in old if k not in new]
    with RecsItem.batch_write() as batch:
        for key in changed:
            batch.save(RecsItem(key=key, data=new[key], updated_at=now))
        for key in gone:
            batch.delete(RecsItem(key=key))
    return len(changed), len(gone)


# ---------------------------------------------------------------- customers


def get_customer(customer_id: str) -> CustomerModel | None:
    try:
        return CustomerModel.get(customer_id, consistent_read=True)
    except CustomerModel.DoesNotExist:
        return None


def new_customer(customer_id: str) -> CustomerModel:
    now = clock.iso(clock.now())
    return CustomerModel(customer_id=customer_id, consents={}, segment="prospect", created_at=now)


def save_customer(customer: CustomerModel) -> bool:
    """Save with optimistic locking; False when someone else saved first (reload and retry).

    One plain write: the per-step counts and flows are tallied from the table's stream
    (:func:`save_step_tally`), not written here.
    """
    customer.updated_at = clock.iso(clock.now())
    try:
        customer.save()
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def apply_consent_only(customer_id: str, purpose: str, status: str, occurred_at: str, source: str) -> bool:
    """Record a consent statement with an update of the consents alone (for a customer whose full
    update fails). A customer item too large to take even that (written before today's bounds)
    is first brought within them (``events.bounded_attributes``); an opt-out weighs more than an oversized attribute.
    Returns whether the statement changed anything."""
    for _attempt in range(8):
        customer = get_customer(customer_id)
        if customer is None:
            return False
        consents = dict(customer.consents or {})
        if not consent.apply_statement(consents, purpose, status, occurred_at, source):
            return False

        def actions(consents: dict[str, Any] = consents) -> list[Action]:
            # a new list each time: PynamoDB adds its version action to the one it is given
            return [CustomerModel.consents.set(consents), CustomerModel.updated_at.set(clock.iso(clock.now()))]

        try:
            customer.update(actions=actions())
            return True
        except UpdateError as exc:
            if _conditional_failed(exc):
                continue  # changed meanwhile: read again
            if "size" not in str(exc).lower():
                raise
        trimmed = bounded_attributes(customer.attributes or {})
        logger.error("customer item over the size bound: attributes trimmed to apply a consent statement")
        try:
            customer.update(actions=[*actions(), CustomerModel.attributes.set(trimmed)])
            return True
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise
    raise RuntimeError("the customer kept changing while a consent statement was applied")


# ---------------------------------------------------------------- customers per step, flows
#
# The counting consumer of the customers table's stream stores one tally item per stream batch
# (STEPTALLY#<shard>, keyed by the batch's first record, holding how far it counted). The daily
# run folds open tallies into the counters (STEPCOUNT, STEPFLOW#<day>) in transactions that also
# close them; closed tallies stay a week as markers, so a retried batch is never counted twice.

TALLY_KEEP = timedelta(days=7)


def step_tally(record_id: str) -> dict[str, Any] | None:
    """The tally stored for the stream batch that began with this record, if any."""
    try:
        item = EngineItem.get(f"STEPTALLY#{_shard(record_id, COUNT_SHARDS)}", record_id, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return dict(item.data or {})


def save_step_tally(record_id: str, through: str, data: dict[str, Any]) -> bool:
    """Store a batch's tally once (one write); False when that batch was stored already."""
    item = EngineItem(
        pk=f"STEPTALLY#{_shard(record_id, COUNT_SHARDS)}",
        sk=record_id,
        status="open",
        data={**data, "through": through},
        created_at=clock.iso(clock.now()),
    )
    return _put_once(item, EngineItem.sk)


def _open_tallies() -> list[EngineItem]:
    return [
        item
        for shard in range(COUNT_SHARDS)
        for item in EngineItem.query(f"STEPTALLY#{shard}", filter_condition=EngineItem.status == "open")
    ]


def fold_step_tallies(limit: int = 100) -> int:
    """Add open tallies to the counters and close them, atomically, at most ``limit`` items a
    transaction; returns how many tallies were folded."""
    folded = 0
    pending = _open_tallies()
    expires = clock.now() + TALLY_KEEP
    while pending:
        chunk: list[EngineItem] = []
        total = Tally()
        for item in pending:
            trial = Tally(dict(total.counts), {d: dict(f) for d, f in total.flows.items()})
            trial.merge(item.data or {})
            keys = len(trial.counts) + sum(len(f) for f in trial.flows.values())
            if chunk and keys + len(chunk) + 1 > limit:
                break
            chunk.append(item)
            total = trial
        pending = pending[len(chunk) :]
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            for step, n in total.counts.items():
                if n:
                    tx.update(EngineItem(pk="STEPCOUNT", sk=step), actions=[EngineItem.counter.add(n)])
            for day, flows in total.flows.items():
                for key, n in flows.items():
                    tx.update(EngineItem(pk=f"STEPFLOW#{day}", sk=key), actions=[EngineItem.counter.add(n)])
            for item in chunk:
                tx.update(
                    item,
                    actions=[EngineItem.status.set("folded"), EngineItem.expires_at.set(expires)],
                    condition=EngineItem.status == "open",
                )
        folded += len(chunk)
    return folded


def _open_tally() -> Tally:
    total = Tally()
    for item in _open_tallies():
        total.merge(item.data or {})
    return total


def segment_counts() -> dict[str, int]:
    """Customers per step now: the folded counters plus the tallies not folded yet."""
    counts = dict(_open_tally().counts)
    for item in EngineItem.query("STEPCOUNT"):
        counts[item.sk] = counts.get(item.sk, 0) + int(item.counter or 0)
    return counts


def segment_flows(day: date, include_open: bool = True) -> dict[str, int]:
    """Migrations between steps on ``day``: ``{"new>active": 3, ...}``; without the open
    tallies for a day the daily run has folded already (one Query instead of nine)."""
    flows = dict(_open_tally().flows.get(day.isoformat(), {})) if include_open else {}
    for item in EngineItem.query(f"STEPFLOW#{day.isoformat()}"):
        flows[item.sk] = flows.get(item.sk, 0) + int(item.counter or 0)
    return flows


def save_segment_day(day: date, counts: dict[str, int]) -> bool:
    """Keep the day's snapshot of customers per step; the first one taken stands (a re-run of
    the daily run later in the day does not overwrite it with later counts)."""
    item = EngineItem(pk="SEGDAY", sk=day.isoformat(), data=counts, created_at=clock.iso(clock.now()))
    return _put_once(item, EngineItem.sk)


def segment_days(first: date, last: date) -> dict[str, dict[str, int]]:
    """The daily snapshots of customers per step, ``{"2026-01-02": {"new": 4, ...}}``."""
    return {
        item.sk: dict(item.data or {})
        for item in EngineItem.query("SEGDAY", EngineItem.sk.between(first.isoformat(), last.isoformat()))
    }


def set_review(customer: CustomerModel, review_on: date | None) -> None:
    customer.review_on = review_on.isoformat() if review_on else None
    customer.review_shard = _shard(customer.customer_id, REVIEW_SHARDS) if review_on else None


def due_for_review(until: date) -> Iterator[CustomerModel]:
    """Customers whose review date is on or before ``until`` (all shards), with just the
    attributes placement needs (the index's projection): one read per due customer."""
    for shard in range(REVIEW_SHARDS):
        yield from CustomerModel.by_review.query(str(shard), CustomerModel.review_on <= until.isoformat())


def save_placement(customer: CustomerModel) -> bool:
    """Write only what placement changes (step, review date, staircase version), conditional on
    the version read. False on a conflict."""
    customer.updated_at = clock.iso(clock.now())
    actions: list[Action] = [
        CustomerModel.segment.set(customer.segment),
        CustomerModel.staircase_version.set(customer.staircase_version),
        CustomerModel.updated_at.set(customer.updated_at),
    ]
    for attribute, value in (
        (CustomerModel.segment_since, customer.segment_since),
        (CustomerModel.review_on, customer.review_on),
        (CustomerModel.review_shard, customer.review_shard),
    ):
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    try:
        # PynamoDB adds the optimistic-lock condition (version as read) and the increment.
        customer.update(actions=actions, condition=CustomerModel.customer_id.exists())
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def customers_on(steps: list[str]) -> Iterator[str]:
    """Ids of everyone on one of ``steps`` (a scan: for scheduled sends such as newsletters)."""
    for item in CustomerModel.scan(CustomerModel.segment.is_in(*steps), attributes_to_get=["customer_id"]):
        yield item.customer_id


def all_customers() -> Iterator[CustomerModel]:
    """Every customer, whole (a full scan: for forecasts, never on a hot path)."""
    yield from CustomerModel.scan()


def events_of_types_since(types: tuple[str, ...], since: datetime) -> Iterator[EventModel]:
    """Stored events of these types that occurred after ``since`` (a filtered full scan: for
    forecasts, never on a hot path)."""
    cutoff = clock.iso(since)
    yield from EventModel.scan(filter_condition=EventModel.type.is_in(*types) & (EventModel.occurred_at > cutoff))


def scan_for_placement(segment: int = 0, total_segments: int = 1) -> Iterator[CustomerModel]:
    """Every customer with the attributes placement needs (one segment of a parallel scan): the
    full re-placement after the rules changed."""
    yield from CustomerModel.scan(
        segment=segment, total_segments=total_segments, attributes_to_get=["customer_id", *REVIEW_ATTRIBUTES]
    )


# ---------------------------------------------------------------- engine: runs and date occasions


def run_state(name: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(f"RUN#{name}", "STATE", consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def save_run_state(name: str, data: dict[str, Any]) -> None:
    EngineItem(pk=f"RUN#{name}", sk="STATE", data=data, created_at=clock.iso(clock.now())).save()


def occasion_fired(customer_id: str, key: str) -> bool:
    try:
        EngineItem.get(f"FIRED#{customer_id}", key)
    except EngineItem.DoesNotExist:
        return False
    return True


def mark_occasion(customer_id: str, key: str, at: datetime) -> None:
    """Remember a fired date occasion (kept ~2 years, longer than any occasion's window)."""
    EngineItem(
        pk=f"FIRED#{customer_id}", sk=key, status="fired", created_at=clock.iso(at), expires_at=at + timedelta(days=800)
    ).save()


# ---------------------------------------------------------------- engine: ledger


IN_DOUBT_SHARD = "DOUBT"  # reservations on the by_due index until they are completed


def reserve_send(customer_id: str, ledger_key: str, data: dict[str, Any], in_doubt_after_s: int = 900) -> EngineItem | None:
    """Reserve the right to send; returns None when a reservation exists (sent or in doubt).

    The reservation sits on the ``by_due`` index until it is completed; one still there after
    ``in_doubt_after_s`` is in doubt (:func:`in_doubt`): SES may or may not have sent it."""
    now = clock.now()
    item = EngineItem(
        pk=f"SEND#{customer_id}",
        sk=ledger_key,
        status="reserved",
        due_shard=IN_DOUBT_SHARD,
        due_at=clock.iso(now + timedelta(seconds=in_doubt_after_s)),
        data=data,
        created_at=clock.iso(now),
    )
    return item if _put_once(item, EngineItem.pk) else None


def record_skip(customer_id: str, ledger_key: str, data: dict[str, Any], kind: str) -> bool:
    """A send step that was not sent (``suppressed``, ``no_consent``, ``no_address``,
    ``stopped``): kept in the ledger and counted for the step, exactly once per journey."""
    item = EngineItem(
        pk=f"SEND#{customer_id}", sk=ledger_key, status=f"skipped:{kind}", data=data, created_at=clock.iso(clock.now())
    )
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.save(item, condition=EngineItem.pk.does_not_exist())
            _count(tx, data["campaign_id"], data["step_id"], kind)
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def ledger_entry(customer_id: str, ledger_key: str) -> EngineItem | None:
    try:
        return EngineItem.get(f"SEND#{customer_id}", ledger_key, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None


def complete_send(item: EngineItem, status: str, data: dict[str, Any], message_id: str | None) -> None:
    actions: list[Action] = [
        EngineItem.status.set(status),
        EngineItem.data.set({**(item.data or {}), **data}),
        EngineItem.due_shard.remove(),
        EngineItem.due_at.remove(),
    ]
    if message_id is None:  # capped or failed: counted with the completion, once
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.update(item, actions=actions)
            if "campaign_id" in (item.data or {}):
                _count(tx, item.data["campaign_id"], item.data["step_id"], status)
        return
    with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
        tx.update(item, actions=actions)
        _count(tx, data["campaign_id"], data["step_id"], "sent")
        _reputation(tx, "sent")
        tx.save(
            EngineItem(
                pk=f"MSG#{message_id}",
                sk="MSG",
                status="sent",
                data={k: data[k] for k in ("customer_id", "campaign_id", "step_id") if k in data},
                created_at=clock.iso(clock.now()),
            )
        )


def in_doubt(until: datetime) -> list[EngineItem]:
    """Reservations neither completed nor released by ``until``: SES may have sent them. They
    are never retried blindly; an operator settles each (:func:`settle_in_doubt`)."""
    return list(EngineItem.by_due.query(IN_DOUBT_SHARD, EngineItem.due_at <= clock.iso(until)))


def next_in_doubt_at(after: datetime) -> datetime | None:
    """The next moment after ``after`` an open reservation falls into doubt (the local runtime
    wakes the sweep then, which reports it)."""
    first = next(iter(EngineItem.by_due.query(IN_DOUBT_SHARD, EngineItem.due_at > clock.iso(after), limit=1)), None)
    return clock.parse_iso(first.due_at) if first is not None and first.due_at else None


def settle_in_doubt(customer_id: str, ledger_key: str, sent: bool, note: str) -> bool:
    """Record what an operator found out about an in-doubt reservation (sent or not sent).
    Either way it stays in the ledger, so the step is never sent to this person again."""
    item = ledger_entry(customer_id, ledger_key)
    if item is None or item.status != "reserved":
        return False
    complete_send(item, "sent_unconfirmed" if sent else "not_sent", {"settled": note}, None)
    return True


# ---------------------------------------------------------------- engine: deliverability


def save_template_status(name: str, data: dict[str, Any]) -> None:
    EngineItem(
        pk=f"TEMPLATE#{name}", sk="STATUS", status=str(data.get("status")), data=data, created_at=clock.iso(clock.now())
    ).save()


def template_status(name: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(f"TEMPLATE#{name}", "STATUS", consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def _address_key(address: str) -> str:
    return "SUPPRESS#" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:40]


def suppress(address: str, reason: str, at: str) -> None:
    """Put an address on the suppression list (by hash: the list holds no addresses)."""
    EngineItem(pk=_address_key(address), sk="ADDRESS", status=reason, created_at=at).save()


def suppression(address: str) -> str | None:
    """Why an address is suppressed (``hard_bounce``, ``complaint``), or None."""
    try:
        return EngineItem.get(_address_key(address), "ADDRESS").status
    except EngineItem.DoesNotExist:
        return None


def unsuppress(address: str) -> None:
    EngineItem(pk=_address_key(address), sk="ADDRESS").delete()


def stop_step(campaign_id: str, step_id: str, reason: str) -> None:
    EngineItem(pk=f"CAMPAIGN#{campaign_id}", sk=f"STOP#{step_id}", status=reason, created_at=clock.iso(clock.now())).save()


def step_stop(campaign_id: str, step_id: str) -> str | None:
    """Why sending of a campaign step was stopped, or None."""
    try:
        return EngineItem.get(f"CAMPAIGN#{campaign_id}", f"STOP#{step_id}").status
    except EngineItem.DoesNotExist:
        return None


def resume_step(campaign_id: str, step_id: str) -> None:
    EngineItem(pk=f"CAMPAIGN#{campaign_id}", sk=f"STOP#{step_id}").delete()


def take_send_slot(now: datetime, per_second: int) -> bool:
    """One of ``per_second`` sends in the current second (shared by all concurrent senders)."""
    second = now.replace(microsecond=0)
    try:
        EngineItem(pk="SENDRATE", sk=clock.iso(second)).update(
            actions=[EngineItem.counter.add(1), EngineItem.expires_at.set(second + timedelta(hours=1))],
            condition=EngineItem.counter.does_not_exist() | (EngineItem.counter < per_second),
        )
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def message_record(message_id: str) -> dict[str, Any] | None:
    try:
        item = EngineItem.get(f"MSG#{message_id}", "MSG")
    except EngineItem.DoesNotExist:
        return None
    return dict(item.data or {})


def ledger(customer_id: str) -> list[EngineItem]:
    return list(EngineItem.query(f"SEND#{customer_id}"))


# ---------------------------------------------------------------- engine: journey timers


HELD_SHARD = "HELD"  # timers of journeys held by a marketing pause: woken by resume, not by time
TIMER_PARTITIONS = tuple(str(shard) for shard in range(TIMER_SHARDS))  # by_due partitions of parked timers


def park_timer(execution: str, token: str, due: datetime, data: dict[str, Any], *, held: bool = False) -> None:
    """Park a journey's task token until ``due`` (or, ``held``, until marketing resumes). An
    execution waits in one Park at a time: an earlier timer of it (a Park that timed out) goes."""
    for stale in EngineItem.query(f"TIMER#{execution}"):
        stale.delete()
    EngineItem(
        pk=f"TIMER#{execution}",
        sk=hashlib.sha256(token.encode()).hexdigest()[:24],
        status="held" if held else "parked",
        due_shard=HELD_SHARD if held else _shard(execution, TIMER_SHARDS),
        due_at=clock.iso(due),
        data={**data, "token": token},
        created_at=clock.iso(clock.now()),
    ).save()


def release_held_timers(now: datetime) -> int:
    """Make every held journey's timer due now (marketing resumed); returns how many."""
    released = 0
    for item in list(EngineItem.by_due.query(HELD_SHARD)):  # the index projects whole items
        item.update(
            actions=[
                EngineItem.due_shard.set(_shard(item.pk.removeprefix("TIMER#"), TIMER_SHARDS)),
                EngineItem.due_at.set(clock.iso(now)),
                EngineItem.status.set("parked"),
            ]
        )
        released += 1
    return released


def due_timers(until: datetime) -> Iterator[EngineItem]:
    for shard in TIMER_PARTITIONS:
        yield from EngineItem.by_due.query(shard, EngineItem.due_at <= clock.iso(until))


def next_timer_due() -> datetime | None:
    """The earliest parked timer (the local runtime jumps its clock there)."""
    earliest: str | None = None
    for shard in TIMER_PARTITIONS:
        for item in EngineItem.by_due.query(shard, limit=1):
            if item.due_at and (earliest is None or item.due_at < earliest):
                earliest = item.due_at
    return clock.parse_iso(earliest) if earliest else None


def parked_executions() -> set[str]:
    names: set[str] = set()
    for shard in (*TIMER_PARTITIONS, HELD_SHARD):
        for item in EngineItem.by_due.query(shard):
            names.add(item.pk.removeprefix("TIMER#"))
    return names


def delete_timer(item: EngineItem) -> None:
    item.delete()


# ---------------------------------------------------------------- engine: campaign feedback


def record_feedback(campaign_id: str, step_id: str, kind: str, message_id: str, at: str, data: dict[str, Any]) -> bool:
    """Store one SES feedback event against its campaign and count it, exactly once."""
    item = EngineItem(
        pk=f"CAMPAIGN#{campaign_id}",
        sk=f"FEEDBACK#{step_id}#{kind}#{message_id}",
        status=kind,
        data={**data, "at": at},
        created_at=clock.iso(clock.now()),
    )
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.save(item, condition=EngineItem.pk.does_not_exist())
            _count(tx, campaign_id, step_id, kind)
            if kind in ("bounced", "complained"):
                _reputation(tx, kind)
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


# ---------------------------------------------------------------- engine: sending reputation

REPUTATION = "REPUTATION"  # hourly counters of mails sent, bounced, complained (all campaigns)
CONTROL = "CONTROL"
PAUSE = "MARKETING_PAUSE"
RESUMED = "MARKETING_RESUMED"


def _reputation(tx: TransactWrite, kind: str) -> None:
    """Count a mail (or its bounce or complaint) in this hour's bucket, with the transaction that
    records it once. Buckets expire after two days."""
    now = clock.now()
    item = EngineItem(pk=REPUTATION, sk=f"{hour_key(now)}#{kind}")
    tx.update(item, actions=[EngineItem.counter.add(1), EngineItem.expires_at.set(now + timedelta(days=2))])


def reputation_counts(keys: list[str]) -> dict[str, int]:
    """Sent, bounced and complained over the given hourly buckets (one Query)."""
    wanted = set(keys)
    totals = {"sent": 0, "bounced": 0, "complained": 0}
    for item in EngineItem.query(REPUTATION, EngineItem.sk.between(min(keys), max(keys) + "#~")):
        hour, _, kind = item.sk.partition("#")
        if hour in wanted and kind in totals:
            totals[kind] += int(item.counter or 0)
    return totals


def marketing_pause() -> dict[str, Any] | None:
    """Why marketing sending is paused (reason, rates, since), or None while it runs."""
    try:
        item = EngineItem.get(CONTROL, PAUSE)
    except EngineItem.DoesNotExist:
        return None
    return {**(item.data or {}), "since": item.created_at}


def pause_marketing(reason: str, figures: dict[str, Any]) -> bool:
    """Pause marketing sending; False when it is paused already (the first reason stays)."""
    item = EngineItem(
        pk=CONTROL, sk=PAUSE, status="paused", data={"reason": reason, **figures}, created_at=clock.iso(clock.now())
    )
    return _put_once(item, EngineItem.pk)


def resume_marketing() -> dict[str, Any] | None:
    """Lift the pause; the rates are measured afresh from now: what this hour's bucket holds
    already is the baseline later checks subtract (returns the pause lifted)."""
    held = marketing_pause()
    now = clock.now()
    hour = hour_key(now)
    baseline = {"hour": hour, **reputation_counts([hour])}
    EngineItem(pk=CONTROL, sk=RESUMED, data=baseline, created_at=clock.iso(now)).save()
    EngineItem(pk=CONTROL, sk=PAUSE).delete()
    return held


def reputation_baseline() -> dict[str, Any] | None:
    """The hour of the last resume and what its bucket held then."""
    try:
        return dict(EngineItem.get(CONTROL, RESUMED).data or {})
    except EngineItem.DoesNotExist:
        return None


def _count(tx: TransactWrite, campaign_id: str, step_id: str, kind: str, by: int = 1) -> None:
    counter = EngineItem(pk=f"CAMPAIGN#{campaign_id}", sk=f"STATS#{step_id}#{kind}")
    tx.update(counter, actions=[EngineItem.counter.add(by)])


OCCURRENCE_CLAIM_DAYS = 400  # a replay of an older occurrence than this may enter again


def claim_entry(campaign_id: str, customer_id: str, execution: str, now: datetime, reentry: str, days: int | None) -> bool:
    """Whether this trigger may start ``execution`` (the campaign's re-entry rule, decided in
    our table, not by Step Functions' execution names, which AWS forgets 90 days after an
    execution closes). ``never``: one entry per customer, ever; ``after_days``: the last entry is
    at least ``days`` old; ``every_occurrence``: once per occurrence (the name carries it).
    A claim whose journey has not been started yet answers True again, so a trigger retried
    after a crash still starts it; once :func:`mark_entry_started`, it answers False."""
    item = EngineItem(pk=f"CAMPAIGN#{campaign_id}", sk=_claim_key(customer_id, execution, reentry))
    condition = EngineItem.created_at.does_not_exist()
    if reentry == "after_days":
        condition = condition | (EngineItem.created_at <= clock.iso(now - timedelta(days=days or 0)))
    expires = now + timedelta(days=OCCURRENCE_CLAIM_DAYS) if reentry == "every_occurrence" else None
    try:
        item.update(
            actions=[
                EngineItem.created_at.set(clock.iso(now)),
                EngineItem.status.set(execution),
                EngineItem.data.set({"started": False}),
                *([EngineItem.expires_at.set(expires)] if expires else []),
            ],
            condition=condition,
        )
    except UpdateError as exc:
        if not _conditional_failed(exc):
            raise
        held = EngineItem.get(item.pk, item.sk, consistent_read=True)
        return held.status == execution and not (held.data or {}).get("started")
    return True


def _claim_key(customer_id: str, execution: str, reentry: str) -> str:
    """One claim per occurrence (the execution name carries it), else one per customer."""
    return f"CLAIM#{execution}" if reentry == "every_occurrence" else f"LASTENTRY#{customer_id}"


def mark_entry_started(campaign_id: str, customer_id: str, execution: str, reentry: str) -> None:
    try:
        EngineItem(pk=f"CAMPAIGN#{campaign_id}", sk=_claim_key(customer_id, execution, reentry)).update(
            actions=[EngineItem.data.set({"started": True})], condition=EngineItem.status == execution
        )
    except UpdateError as exc:
        if not _conditional_failed(exc):  # a later entry claimed it meanwhile: nothing to mark
            raise


ENTRIES = "_entries"  # pseudo step of the entry counters (step ids never start with "_")
UPLIFT = "_uplift"  # pseudo step of the holdout comparison counters
UPLIFT_SHARD = "UPLIFT"  # entries on the by_due index until their attribution window closes


def record_entry(
    campaign_id: str, execution: str, outcome: str, at: str, customer_id: str = "", window_closes: str | None = None
) -> bool:
    """One item per journey entry (``entered``, ``holdout``, ``not_in_audience``), counted once;
    False when this execution's entry is recorded already. Entered and holdout entries wait on
    the ``by_due`` index until ``window_closes``, when :func:`evaluate_entry` compares them."""
    compared = window_closes is not None and outcome in ("entered", "holdout")
    item = EngineItem(
        pk=f"CAMPAIGN#{campaign_id}",
        sk=f"ENTRY#{execution}",
        status=outcome,
        created_at=at,
        data={"customer_id": customer_id},
        due_shard=UPLIFT_SHARD if compared else None,
        due_at=window_closes if compared else None,
    )
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.save(item, condition=EngineItem.sk.does_not_exist())
            _count(tx, campaign_id, ENTRIES, outcome)
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def entries_due(until: datetime) -> Iterator[EngineItem]:
    """Entries whose attribution window has closed and that are not compared yet."""
    yield from EngineItem.by_due.query(UPLIFT_SHARD, EngineItem.due_at <= clock.iso(until))


def evaluate_entry(item: EngineItem, converted: bool) -> bool:
    """Count an entry in its group (treated or holdout) and whether the customer ordered within
    the window, once: the entry leaves the index in the same transaction."""
    campaign_id = item.pk.removeprefix("CAMPAIGN#")
    group = "treated" if item.status == "entered" else "control"
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.update(
                item,
                actions=[
                    EngineItem.due_shard.remove(),
                    EngineItem.due_at.remove(),
                    EngineItem.data.set({**(item.data or {}), "converted": converted}),
                ],
                condition=EngineItem.due_shard.exists(),
            )
            _count(tx, campaign_id, UPLIFT, group)
            if converted:
                _count(tx, campaign_id, UPLIFT, f"{group}_converted")
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def campaign_entries(campaign_id: str) -> dict[str, int]:
    """Entries of a campaign by outcome: ``{"entered": 90, "holdout": 10}``."""
    return campaign_stats(campaign_id).get(ENTRIES, {})


def record_conversion(
    order_id: str, customer_id: str, campaign_id: str, step_id: str, cents: int, currency: str, at: str
) -> bool:
    """An order attributed to a campaign step, with its revenue (minor units), once per order
    (order ids are the customer's: keyed by both)."""
    item = EngineItem(
        pk=f"CONVERSION#{customer_id}#{order_id}",
        sk="CONVERSION",
        status="converted",
        data={"customer_id": customer_id, "campaign_id": campaign_id, "step_id": step_id, "cents": cents, "currency": currency},
        created_at=at,
    )
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.save(item, condition=EngineItem.pk.does_not_exist())
            _count(tx, campaign_id, step_id, "converted")
            _count(tx, campaign_id, step_id, f"revenue:{currency}", cents)
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def reverse_conversion(customer_id: str, order_id: str) -> bool:
    """A refund of an attributed order takes its conversion and revenue back, once."""
    try:
        item = EngineItem.get(f"CONVERSION#{customer_id}#{order_id}", "CONVERSION", consistent_read=True)
    except EngineItem.DoesNotExist:
        return False
    data = item.data or {}
    try:
        with TransactWrite(connection=EngineItem._get_connection().connection) as tx:
            tx.update(item, actions=[EngineItem.status.set("refunded")], condition=EngineItem.status == "converted")
            _count(tx, data["campaign_id"], data["step_id"], "converted", -1)
            _count(tx, data["campaign_id"], data["step_id"], f"revenue:{data['currency']}", -int(data["cents"]))
    except TransactWriteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def campaign_stats(campaign_id: str) -> dict[str, dict[str, int]]:
    """Per step, how many mails were sent and how many of each feedback kind came back."""
    stats: dict[str, dict[str, int]] = {}
    for item in EngineItem.query(f"CAMPAIGN#{campaign_id}", EngineItem.sk.startswith("STATS#")):
        _, step_id, kind = item.sk.split("#", 2)
        stats.setdefault(step_id, {})[kind] = int(item.counter or 0)
    return stats


# ---------------------------------------------------------------- engine: bulk imports


def import_state(file_key: str, version: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(f"IMPORT#{file_key}", version, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def save_import_state(file_key: str, version: str, status: str, data: dict[str, Any]) -> None:
    """Checkpoint of one import file (kept 90 days): where to resume and what it has counted."""
    now = clock.now()
    EngineItem(
        pk=f"IMPORT#{file_key}",
        sk=version,
        status=status,
        data=data,
        created_at=clock.iso(now),
        expires_at=now + timedelta(days=90),
    ).save()
