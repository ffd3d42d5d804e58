"""Customers (the customers table): profiles and consents, review dates, placements on the staircase.

The services get and give plain :class:`~nudgeloop.domain.customer.Customer` values; the stored
item (``models.CustomerModel``) stays in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain import consent
from nudgeloop.domain.customer import FIRST_STEP, Customer
from nudgeloop.domain.events import bounded_attributes
from nudgeloop.layout import REVIEW_ATTRIBUTES
from nudgeloop.observability import logger

from . import keys
from .models import CustomerModel
from .writes import conditional_failed, once, update_if

Recording = Callable[[TransactWrite], None]  # adds what a save records, to the save's transaction

_FIELDS = tuple(f for f in Customer.__dataclass_fields__)
_STORED_ONLY = ("review_shard",)  # the index's partition: derived from review_on, never a domain fact


def _value(item: CustomerModel) -> Customer:
    """The plain value of a stored item (or of the part of it a projection read)."""
    data: dict[str, Any] = {name: getattr(item, name, None) for name in _FIELDS}
    data["attributes"] = dict(data["attributes"] or {})
    data["bookings"] = list(data["bookings"] or [])
    data["consents"] = dict(data["consents"] or {})
    data["address"] = dict(data["address"]) if data["address"] else None
    data["step"] = data["step"] or FIRST_STEP
    return Customer(**data)


def _item(customer: Customer) -> CustomerModel:
    values = {name: getattr(customer, name) for name in _FIELDS}
    if values["version"] is None:  # never saved: PynamoDB writes it only if absent
        del values["version"]
    item = CustomerModel(**values)
    item.attributes = customer.attributes or None  # empty: not stored
    item.bookings = customer.bookings or None
    item.review_shard = keys.review_partition(customer.customer_id) if customer.review_on else None
    return item


def get_customer(customer_id: str) -> Customer | None:
    try:
        return _value(CustomerModel.get(customer_id, consistent_read=True))
    except CustomerModel.DoesNotExist:
        return None


def get_customers(customer_ids: set[str]) -> dict[str, Customer | None]:
    """Several customers at once (consistent BatchGetItem reads, 100 keys a request; keys
    DynamoDB leaves unprocessed are asked again): each id maps to its customer, or None."""
    found: dict[str, Customer | None] = dict.fromkeys(customer_ids)
    for item in CustomerModel.batch_get(sorted(customer_ids), consistent_read=True):
        found[item.customer_id] = _value(item)
    return found


def new_customer(customer_id: str) -> Customer:
    return Customer(customer_id=customer_id, created_at=clock.iso(clock.now()))


def save_customer(customer: Customer, recording: Recording | None = None) -> bool:
    """Save with optimistic locking; False when someone else saved first (reload and retry).
    On success the value carries the new version (it may be saved again).

    One plain write, or with ``recording`` one transaction that also writes what it adds (the
    history of the change: a migration's entry, which the events stream then publishes). The
    per-step counts and flows are tallied from the table's stream (``step_tallies``), not
    written here.
    """
    customer.updated_at = clock.iso(clock.now())
    item = _item(customer)
    if recording is not None:

        def write(tx: TransactWrite) -> None:
            tx.save(item)
            recording(tx)

        if not once(write):
            return False
    else:
        try:
            item.save()
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
    customer.version = item.version
    return True


def apply_consent_only(customer_id: str, purpose: str, status: str, occurred_at: str, source: str) -> bool:
    """Record a consent statement with an update of the consents alone (for a customer whose full
    update fails). A customer item too large to take even that (written before today's bounds)
    is first brought within them (``events.bounded_attributes``); an opt-out weighs more than an oversized attribute.
    Returns whether the statement changed anything."""
    for _attempt in range(8):
        try:
            customer = CustomerModel.get(customer_id, consistent_read=True)
        except CustomerModel.DoesNotExist:
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
            if conditional_failed(exc):
                continue  # changed meanwhile: read again
            if "size" not in str(exc).lower():
                raise
        trimmed = bounded_attributes(customer.attributes or {})
        logger.error("customer item over the size bound: attributes trimmed to apply a consent statement")
        try:
            customer.update(actions=[*actions(), CustomerModel.attributes.set(trimmed)])
            return True
        except UpdateError as exc:
            if not conditional_failed(exc):
                raise
    raise RuntimeError("the customer kept changing while a consent statement was applied")


def due_for_review(until: date) -> Iterator[Customer]:
    """Customers whose review date is on or before ``until`` (all shards), with just the
    attributes placement needs (the index's projection): one read per due customer."""
    for partition in keys.REVIEW_PARTITIONS:
        for item in CustomerModel.by_review.query(partition, CustomerModel.review_on <= until.isoformat()):
            yield _value(item)


def save_placement(customer: Customer, recording: Recording | None = None) -> bool:
    """Write only what placement changes (step, review date, staircase version), conditional on
    the version read, with ``recording`` in the same transaction (as :func:`save_customer`).
    False on a conflict; on success the value carries the new version."""
    customer.updated_at = clock.iso(clock.now())
    item = _item(customer)
    actions: list[Action] = [
        CustomerModel.step.set(item.step),
        CustomerModel.staircase_version.set(item.staircase_version),
        CustomerModel.updated_at.set(item.updated_at),
    ]
    for attribute, value in (
        (CustomerModel.step_since, item.step_since),
        (CustomerModel.review_on, item.review_on),
        (CustomerModel.review_shard, item.review_shard),
    ):
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    # PynamoDB adds the optimistic-lock condition (version as read) and the increment.
    exists = CustomerModel.customer_id.exists()
    if recording is None:
        saved = update_if(item, actions, exists)
    else:

        def write(tx: TransactWrite) -> None:
            tx.update(item, actions=actions, condition=exists)
            recording(tx)

        saved = once(write)
    if not saved:
        return False
    customer.version = item.version
    return True


def customers_on(steps: list[str]) -> Iterator[str]:
    """Ids of everyone on one of ``steps`` (a scan: for scheduled sends such as newsletters)."""
    for item in CustomerModel.scan(CustomerModel.step.is_in(*steps), attributes_to_get=["customer_id"]):
        yield item.customer_id


def all_customers() -> Iterator[Customer]:
    """Every customer, whole (a full scan: for forecasts, never on a hot path)."""
    for item in CustomerModel.scan():
        yield _value(item)


def scan_for_placement(part: int = 0, parts: int = 1) -> Iterator[Customer]:
    """Every customer with the attributes placement needs (one part of a parallel scan: DynamoDB's
    ``Segment`` of ``TotalSegments``): the full re-placement after the rules changed."""
    for item in CustomerModel.scan(segment=part, total_segments=parts, attributes_to_get=["customer_id", *REVIEW_ATTRIBUTES]):
        yield _value(item)
