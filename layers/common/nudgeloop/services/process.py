"""Applying accepted events to the marketing database (idempotent, order-independent)."""

from __future__ import annotations

from nudgeloop import clock
from nudgeloop.adapters.bus import Publisher
from nudgeloop.dal import repo
from nudgeloop.dal.models import CustomerModel
from nudgeloop.domain import consent
from nudgeloop.domain.events import INTERNAL_TYPES, Event
from nudgeloop.domain.staircase import Staircase
from nudgeloop.observability import logger
from nudgeloop.services import segmenting

ORDER_TYPES = frozenset({"order.completed", "order.refunded"})
PROFILE_FIELDS = ("email", "first_name", "last_name", "locale", "timezone", "birthday", "gender", "country")
ATTEMPTS = 8
INTERNAL_SOURCES = frozenset({"ses", "nudgeloop.segment"})


class ConcurrentUpdate(RuntimeError):
    """The customer kept changing under us; the message is retried by SQS."""


def _apply_profile(customer: CustomerModel, event: Event) -> bool:
    when = event.occurred_iso()
    if event.type == "customer.upserted":
        if customer.profile_updated_at and customer.profile_updated_at > when:
            return False  # an older profile statement arriving late changes nothing
        props = event.properties
        for name in PROFILE_FIELDS:
            if name in props:
                setattr(customer, name, props[name])
        if props.get("attributes"):
            customer.attributes = {**(customer.attributes or {}), **props["attributes"]}
        customer.profile_updated_at = when
        return True
    if event.type == "consent.changed":
        consents = dict(customer.consents or {})
        changed = consent.apply_statement(consents, event.properties["purpose"], event.properties["status"], when, event.source)
        customer.consents = consents
        return changed
    return False


def apply(event: Event, publisher: Publisher, stairs: Staircase) -> bool:
    """Apply one stored event to the customer; returns whether anything changed.

    Safe to repeat (the stream delivers at least once): orders are upserted by ``order_id``,
    aggregates and segment are recomputed from the order log, and consent keeps the latest
    statement by ``occurred_at``. A crash anywhere leaves the record to be retried.
    """
    if event.type in INTERNAL_TYPES or event.source in INTERNAL_SOURCES:
        return False  # history written by Nudgeloop itself (feedback, migrations)
    if event.type == "order.completed":
        repo.record_order(event.customer_id, event)
    elif event.type == "order.refunded":
        repo.record_refund(event.customer_id, event)
    for _attempt in range(ATTEMPTS):
        customer = repo.get_customer(event.customer_id)
        created = customer is None
        if customer is None:
            customer = repo.new_customer(event.customer_id)
        changed = _apply_profile(customer, event)
        migration = None
        if event.type in ORDER_TYPES or created:
            migration = segmenting.refresh(customer, stairs, clock.today(), reason=event.type)
            changed = True
        if not changed:
            return False
        if migration is not None:
            publisher.publish([migration])
        if repo.save_customer(customer):
            segmenting.record(migration)
            if migration is not None:
                logger.info(
                    "customer migrated",
                    extra={"from": migration.detail["from"], "to": migration.detail["to"]},
                )
            return True
    raise ConcurrentUpdate(f"customer kept changing during {ATTEMPTS} attempts")
