"""Applying stored events to the marketing database (idempotent, order-independent)."""

from __future__ import annotations

from datetime import datetime, timedelta

from nudgeloop import clock
from nudgeloop.adapters.bus import BusEvent, Publisher
from nudgeloop.dal import customer_store, event_log, referrals
from nudgeloop.domain import consent, idempotency, identity
from nudgeloop.domain.aggregates import OrderFact
from nudgeloop.domain.campaigns import BehaviourTrigger
from nudgeloop.domain.customer import FIRST_STEP, Customer
from nudgeloop.domain.events import (
    INTERNAL_TYPES,
    MAX_ATTRIBUTES,
    MAX_BOOKINGS,
    ORDER_TYPES,
    PROFILE_FIELDS,
    Event,
    bounded_attributes,
)
from nudgeloop.observability import logger
from nudgeloop.services import identities, segmenting
from nudgeloop.services.segmenting import Rules

DATE_FIELDS = frozenset({"timezone", "birthday"})
ATTEMPTS = 8
INTERNAL_SOURCES = frozenset({"ses", "nudgeloop.segment"})
CONSENT_SOURCE = "nudgeloop.consent"


class ConcurrentUpdate(RuntimeError):
    """The customer kept changing under us; the record is retried."""


def _apply_profile(customer: Customer, event: Event) -> bool:
    when = event.occurred_iso()
    props = event.properties
    if event.type == "customer.upserted":
        if customer.profile_updated_at and customer.profile_updated_at > when:
            return False  # an older profile statement arriving late changes nothing
        for name in PROFILE_FIELDS:
            if name in props:
                setattr(customer, name, props[name])
        if props.get("attributes"):
            customer.attributes = _merged_attributes(customer.attributes or {}, props["attributes"])
        customer.profile_updated_at = when
        return True
    if event.type == "consent.changed":
        consents = dict(customer.consents or {})
        source = props.get("source") or event.source
        changed = consent.apply_statement(consents, props["purpose"], props["status"], when, source)
        customer.consents = consents
        return changed
    if event.type == "service.booked":
        bookings = segmenting.bookings_with(customer, props, clock.now() - timedelta(days=400))
        if len(bookings) > MAX_BOOKINGS:  # the API refuses these; only a race gets here
            bookings.sort(key=lambda b: str(b["ends_at"]), reverse=True)
            logger.warning("bookings over the bound dropped", extra={"dropped": len(bookings) - MAX_BOOKINGS})
            bookings = bookings[:MAX_BOOKINGS]
        customer.bookings = bookings
        return True
    if event.type == "signup" and props.get("referral_code") and customer.referral_code is None:
        customer.referral_code = str(props["referral_code"])  # a friend's code: their reward waits for an order
        return True
    return False


def _merged_attributes(held: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """The customer's attributes with ``new`` applied (a null removes one), at most MAX_ATTRIBUTES:
    the API refuses events that would pass the bound, so only concurrent upserts can; then the
    attributes held stay and the newest keys past the bound are dropped, logged and counted."""
    merged = {k: v for k, v in {**held, **new}.items() if v is not None}
    if len(merged) <= MAX_ATTRIBUTES:
        return merged
    logger.warning("attributes over the bound dropped", extra={"dropped": len(merged) - MAX_ATTRIBUTES})
    return bounded_attributes(merged, keep=held)


BEHAVIOUR_SOURCE = "nudgeloop.behaviour"
FRESH = timedelta(days=2)  # older behaviour (imports of history) starts no journey


def _behaviour(event: Event, now: datetime, triggers: tuple[tuple[str, BehaviourTrigger], ...]) -> BusEvent | None:
    """A customer's own action that campaigns start on (``BehaviourObserved``), if fresh: the
    campaigns whose trigger holds for the event's values are named in it."""
    if now - event.occurred_at > FRESH:
        return None
    campaigns = sorted(cid for cid, trigger in triggers if trigger.holds(event.type, event.properties))
    if not campaigns:
        return None
    detail = {
        "customer_id": event.customer_id,
        "event_type": event.type,
        "event_id": event.event_id,
        "occurred_at": event.occurred_iso(),
        "correlation_id": event.event_id,  # follows the event to the journey and the mail it causes
        # which properties it carries (names only, never values: no personal data on the bus)
        "properties": sorted(k for k, v in event.properties.items() if v not in (None, "", [], {})),
        "campaigns": campaigns,  # whose trigger holds for its values
    }
    return BusEvent(source=BEHAVIOUR_SOURCE, detail_type="BehaviourObserved", detail=detail)


REFERRAL_SOURCE = "nudgeloop.referrals"
REFERRAL_CONVERTED = "referral.converted"


def _record_referral(event: Event) -> None:
    """A customer referred a friend with a code: the code is theirs (for the friend's first order)."""
    code = event.properties.get("code")
    if event.type == "referral.created" and code:
        referrals.record(str(code), event.customer_id)


def _reward_referrer(customer: Customer, event: Event) -> None:
    """A referred friend's first counted order: ``referral.converted`` in the referrer's history
    (once per friend), which a campaign rewards (``refer-a-friend``)."""
    if not customer.referral_code:
        return
    referrer = referrals.referrer_of(customer.referral_code)
    if referrer is None or referrer == customer.customer_id:
        logger.info("referral code without a referrer: no reward", extra={"customer_id": customer.customer_id})
        return
    now = clock.now()
    event_log.store_event(
        Event(
            event_id=idempotency.referral_converted_event_id(customer.customer_id),
            type=REFERRAL_CONVERTED,
            customer_id=referrer,
            occurred_at=now,
            source=REFERRAL_SOURCE,
            properties={
                "referee_customer_id": customer.customer_id,
                "code": customer.referral_code,
                "order_id": event.properties.get("order_id"),
            },
            received_at=now,
        )
    )


def _confirmation_requests(event: Event) -> list[BusEvent]:
    """A pending marketing sign-up (double opt-in) asks for a confirmation mail."""
    props = event.properties
    if event.type != "consent.changed" or props.get("status") != "pending":
        return []
    if props.get("purpose") not in consent.MARKETING_PURPOSES:
        return []
    detail = {
        "customer_id": event.customer_id,
        "purpose": props["purpose"],
        "requested_at": event.occurred_iso(),
        "correlation_id": event.event_id,
    }
    return [BusEvent(source=CONSENT_SOURCE, detail_type="ConsentConfirmationRequested", detail=detail)]


def _needs_placement(event: Event, created: bool) -> bool:
    """Orders move the step; dates (birthday, timezone, bookings) move the next review."""
    if created or event.type in ORDER_TYPES or event.type == "service.booked":
        return True
    return event.type == "customer.upserted" and bool(DATE_FIELDS & set(event.properties))


def _orders(event: Event, created: bool) -> list[OrderFact]:
    """The customer's orders from the log (one Query), except for a customer seen for the first
    time by an event that is not an order: every order of theirs in the log is still to be applied
    (an applied order creates the customer), and each places the customer when it is."""
    if created and event.type not in ORDER_TYPES:
        return []
    return event_log.order_facts(event.customer_id)


def _must_save(customer: Customer, held: tuple[str | None, str | None], migration: object) -> bool:
    """Whether placement changed anything the customer item must hold now: the step, the
    staircase version, or a review date that has to come sooner. A later review date can wait:
    the daily run re-places the customer on the held (earlier) date from the log and moves it
    then. So a repeat order that moves nobody costs its event's write and nothing more."""
    review, version = held
    if migration is not None or customer.staircase_version != version:
        return True
    return customer.review_on is not None and (review is None or customer.review_on < review)


class Prefetched:
    """Customers read together for a batch of events (one BatchGetItem instead of a GetItem per
    event). Each is handed out once, to the first event of its customer: a later event of the
    same customer reads it again (the first may have saved it), and a save that finds it changed
    by someone else reads it again too (optimistic locking decides, as without the prefetch)."""

    def __init__(self, customers: dict[str, Customer | None] | None = None) -> None:
        self._customers = dict(customers or {})

    @classmethod
    def read(cls, events: list[Event]) -> Prefetched:
        ids = {e.customer_id for e in events if not _internal(e)}
        if not ids:
            return cls()
        try:
            return cls(customer_store.get_customers(ids))
        except Exception:  # only a saving: each event then reads its customer itself
            logger.warning("customers not read together: each event reads its own", exc_info=True)
            return cls()

    def take(self, customer_id: str) -> tuple[bool, Customer | None]:
        """(whether it was read, the customer or None), once per customer."""
        if customer_id in self._customers:
            return True, self._customers.pop(customer_id)
        return False, None


def _internal(event: Event) -> bool:
    return event.type in INTERNAL_TYPES or event.source in INTERNAL_SOURCES


def apply(event: Event, publisher: Publisher, rules: Rules, prefetched: Prefetched | None = None) -> bool:
    """Apply one stored event to the customer; returns whether the customer changed.

    A consent statement is applied even when the customer's full update fails (whatever else is
    wrong with the customer): then on its own, as a small update of the consents alone.
    A visitor's events (and the links that name the customer) are joined, never applied to a
    customer of their own: they are applied as the customer's once linked (services/identities)."""
    if event.type == identity.LINKED or identity.is_anonymous(event.customer_id):
        identities.join(event)
        return False
    try:
        return _apply(event, publisher, rules, prefetched or Prefetched())
    except Exception:
        if event.type != "consent.changed":
            raise
        logger.exception("consent applied on its own: the customer's full update failed")
        props = event.properties
        applied = customer_store.apply_consent_only(
            event.customer_id, props["purpose"], props["status"], event.occurred_iso(), props.get("source") or event.source
        )
        publisher.publish(_confirmation_requests(event))
        return applied


def _apply(event: Event, publisher: Publisher, rules: Rules, prefetched: Prefetched) -> bool:
    """Apply one stored event to the customer; returns whether the customer changed.

    Safe to repeat (the stream delivers at least once): orders are read from the event log (one
    per ``order_id``), step and dates are recomputed from them, and consent keeps the latest
    statement by ``occurred_at``. A crash anywhere leaves the record to be retried.
    """
    if _internal(event):
        return False  # history written by Nudgeloop itself (feedback, migrations)
    logger.set_correlation_id(event.event_id)  # the event's id follows it to the mail it causes
    now = clock.now()
    behaviour = _behaviour(event, now, rules.behaviours)
    _record_referral(event)
    if behaviour is not None:  # journeys start by event id: a redelivered record starts nothing new
        publisher.publish([behaviour])
    for _attempt in range(ATTEMPTS):
        read, customer = prefetched.take(event.customer_id)
        if not read:
            customer = customer_store.get_customer(event.customer_id)
        created = customer is None
        if customer is None:
            customer = customer_store.new_customer(event.customer_id)
        held = (customer.review_on, customer.staircase_version)
        changed = _apply_profile(customer, event)
        migration = None
        if _needs_placement(event, created):
            # Daily runs have looked for date occasions up to their last run: at most a day ago.
            migration = segmenting.refresh(
                customer,
                rules,
                event.type,
                _orders(event, created),
                covered_until=now - timedelta(days=1),
                not_before=now.date(),
            ).migration
            changed = changed or created or _must_save(customer, held, migration)
        if not changed:
            return False
        if migration is not None:
            migration.detail["correlation_id"] = event.event_id
        outgoing = _confirmation_requests(event)
        if outgoing:  # before the save: a crash may repeat an event, never lose one
            publisher.publish(outgoing)
        # a migration is written with the save, in its history, and published from there
        if customer_store.save_customer(customer, segmenting.recording(migration)):
            if migration is not None and migration.detail["from"] == FIRST_STEP:
                _reward_referrer(customer, event)
            if migration is not None:
                logger.info("customer migrated", extra={"from": migration.detail["from"], "to": migration.detail["to"]})
            return True
    raise ConcurrentUpdate(f"customer kept changing during {ATTEMPTS} attempts")
