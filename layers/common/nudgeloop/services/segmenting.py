"""Placing a customer on the staircase, finding their next review date, and emitting migrations
(shared by the real-time path and the daily run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from nudgeloop import clock
from nudgeloop.adapters.bus import BusEvent
from nudgeloop.dal import customer_store, event_log
from nudgeloop.domain import dates, idempotency
from nudgeloop.domain.aggregates import Aggregates, OrderFact, aggregate, counted
from nudgeloop.domain.campaigns import BehaviourTrigger
from nudgeloop.domain.customer import Customer
from nudgeloop.domain.events import MIGRATION, Event
from nudgeloop.domain.staircase import Staircase, place

SOURCE = "nudgeloop.segment"


@dataclass(frozen=True)
class Rules:
    """Everything that decides where a customer stands and when to look at them again."""

    stairs: Staircase = field(default_factory=Staircase.default)
    dates: tuple[dates.DateRule, ...] = dates.ALWAYS
    # the behaviour triggers of enabled campaigns, by campaign id (only events one of them holds
    # for are published, naming those campaigns)
    behaviours: tuple[tuple[str, BehaviourTrigger], ...] = ()

    def fingerprint(self) -> str:
        return dates.fingerprint(self.dates, self.stairs.version)


def date_facts(customer: Customer, agg: Aggregates) -> dates.DateFacts:
    bookings = tuple(
        dates.Booking(b["booking_id"], b.get("service", ""), clock.parse_iso(b["starts_at"]), clock.parse_iso(b["ends_at"]))
        for b in customer.bookings
    )
    first = agg.first_order_at.date() if agg.first_order_at else None
    last = agg.last_order_at.date() if agg.last_order_at else None
    return dates.DateFacts(customer.timezone, customer.birthday, first, last, bookings)


HISTORY_FIELDS = ("from", "to", "on", "reason", "staircase_version", "correlation_id")


def history_event(migration: BusEvent) -> Event:
    """The migration as an entry in the customer's event history (segment history)."""
    d = migration.detail
    return Event(
        event_id=idempotency.migration_event_id(d["on"], d["from"], d["to"]),
        type=MIGRATION,
        customer_id=d["customer_id"],
        occurred_at=clock.parse_iso(d["at"]),
        source=SOURCE,
        properties={k: d[k] for k in HISTORY_FIELDS if k in d},
        received_at=clock.now(),
    )


def recording(migration: BusEvent | None) -> customer_store.Recording | None:
    """What the customer's save writes with it when they migrate: the migration's entry in their
    history, in the same transaction. The events stream publishes it from there
    (:func:`published`): the history is the migration's outbox, so a migration is published
    once saved, and a crash after the save repeats the publication instead of losing it."""
    if migration is None:
        return None
    entry = history_event(migration)
    return lambda tx: event_log.store_in(tx, entry)


def published(entry: Event) -> BusEvent | None:
    """The bus event of a migration's history entry, as the stream delivers it; None for any
    other event."""
    if entry.type != MIGRATION or entry.source != SOURCE:
        return None
    detail = {"customer_id": entry.customer_id, "at": entry.occurred_iso(), **entry.properties}
    return BusEvent(source=SOURCE, detail_type="SegmentMigrated", detail=detail)


@dataclass(frozen=True)
class Placed:
    """What placing a customer found: the migration (if any) and the date facts it went by."""

    migration: BusEvent | None
    dates: dates.DateFacts


def refresh(
    customer: Customer,
    rules: Rules,
    reason: str,
    orders: list[OrderFact],
    *,
    covered_until: datetime,
    not_before: date,
) -> Placed:
    """Recompute step and next review from the customer's orders (read from the event log).

    ``covered_until`` is how far daily runs have looked for date occasions; ``not_before`` the
    earliest review date worth setting. The customer object gets the new step, review date and
    staircase version; saving it is the caller's decision.
    """
    today = clock.today()
    agg = aggregate(orders)
    placement = place([(o.occurred_at.date(), o.total) for o in counted(orders)], today, rules.stairs)
    facts = date_facts(customer, agg)
    occasion = dates.next_review(facts, rules.dates, covered_until, not_before)
    reviews = [d for d in (placement.review_on, occasion) if d is not None]
    customer.review_on = min(reviews).isoformat() if reviews else None
    previous = customer.step
    customer.staircase_version = rules.stairs.version
    if placement.step == previous:
        return Placed(None, facts)
    customer.step = placement.step
    customer.step_since = today.isoformat()
    migration = BusEvent(
        source=SOURCE,
        detail_type="SegmentMigrated",
        detail={
            "customer_id": customer.customer_id,
            "from": previous,
            "to": placement.step,
            "at": clock.iso(clock.now()),
            "on": today.isoformat(),
            "reason": reason,
            "staircase_version": rules.stairs.version,
        },
    )
    return Placed(migration, facts)


def date_reached(customer_id: str, occurrence: dates.Occurrence) -> BusEvent:
    return BusEvent(
        source=SOURCE,
        detail_type="DateReached",
        detail={
            "customer_id": customer_id,
            "kind": occurrence.rule.kind,
            "days": occurrence.rule.days,
            "on": occurrence.on.isoformat(),
            "ref": occurrence.ref,
            "occurrence": occurrence.key(),
            "at": clock.iso(clock.now()),
        },
    )


def bookings_with(customer: Customer, props: dict[str, object], horizon: datetime) -> list[dict[str, object]]:
    """The customer's bookings with this one added or replaced, past ones (before ``horizon``) dropped."""
    kept = [b for b in customer.bookings if b["booking_id"] != props["booking_id"]]
    kept.append({k: props[k] for k in ("booking_id", "service", "starts_at", "ends_at")})
    return [b for b in kept if clock.parse_iso(str(b["ends_at"])) >= horizon]
