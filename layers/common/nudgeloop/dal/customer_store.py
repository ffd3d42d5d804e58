"""Customers (the customers table): profiles and consents, review dates, placements on the staircase."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from nudgeloop import clock
from nudgeloop.domain import consent
from nudgeloop.domain.events import bounded_attributes
from nudgeloop.layout import REVIEW_ATTRIBUTES
from nudgeloop.observability import logger

from . import keys
from .models import CustomerModel
from .writes import conditional_failed, update_if


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
        if conditional_failed(exc):
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


def set_review(customer: CustomerModel, review_on: date | None) -> None:
    customer.review_on = review_on.isoformat() if review_on else None
    customer.review_shard = keys.review_partition(customer.customer_id) if review_on else None


def due_for_review(until: date) -> Iterator[CustomerModel]:
    """Customers whose review date is on or before ``until`` (all shards), with just the
    attributes placement needs (the index's projection): one read per due customer."""
    for partition in keys.REVIEW_PARTITIONS:
        yield from CustomerModel.by_review.query(partition, CustomerModel.review_on <= until.isoformat())


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
    # PynamoDB adds the optimistic-lock condition (version as read) and the increment.
    return update_if(customer, actions, CustomerModel.customer_id.exists())


def customers_on(steps: list[str]) -> Iterator[str]:
    """Ids of everyone on one of ``steps`` (a scan: for scheduled sends such as newsletters)."""
    for item in CustomerModel.scan(CustomerModel.segment.is_in(*steps), attributes_to_get=["customer_id"]):
        yield item.customer_id


def all_customers() -> Iterator[CustomerModel]:
    """Every customer, whole (a full scan: for forecasts, never on a hot path)."""
    yield from CustomerModel.scan()


def scan_for_placement(segment: int = 0, total_segments: int = 1) -> Iterator[CustomerModel]:
    """Every customer with the attributes placement needs (one segment of a parallel scan): the
    full re-placement after the rules changed."""
    yield from CustomerModel.scan(
        segment=segment, total_segments=total_segments, attributes_to_get=["customer_id", *REVIEW_ATTRIBUTES]
    )
