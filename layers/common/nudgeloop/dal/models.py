"""PynamoDB models for the tables (names bound at cold start by :func:`bind`)."""

from __future__ import annotations

import os

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from nudgeloop.config import Settings
from nudgeloop.domain.customer import FIRST_STEP
from nudgeloop.layout import REVIEW_ATTRIBUTES


class _Meta:
    table_name = ""
    region: str | None = None


class ReviewIndex(GlobalSecondaryIndex["CustomerModel"]):
    class Meta:
        index_name = "by_review"
        projection = IncludeProjection(list(REVIEW_ATTRIBUTES))

    review_shard = UnicodeAttribute(hash_key=True)
    review_on = UnicodeAttribute(range_key=True)


class CustomerModel(Model):
    class Meta(_Meta):
        pass

    customer_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    gender = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    birthday = UnicodeAttribute(null=True)
    address = JSONAttribute(null=True)  # a postal address (events.PostalAddress)
    attributes = JSONAttribute(null=True)
    # booked services: booking_id, service, starts_at, ends_at
    bookings = JSONAttribute(null=True)
    # Orders and what follows from them (counts, revenue, first/last dates) are not kept here:
    # they are read from the event log when needed, so a repeat order costs no write here.
    profile_updated_at = UnicodeAttribute(null=True)
    consents = JSONAttribute(null=True)
    referral_code = UnicodeAttribute(null=True)
    # the staircase step: stored under its older name (the glossary, docs/architecture.md)
    step = UnicodeAttribute(default=FIRST_STEP, attr_name="segment")
    step_since = UnicodeAttribute(null=True, attr_name="segment_since")
    staircase_version = UnicodeAttribute(null=True)
    review_shard = UnicodeAttribute(null=True)
    review_on = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    version = VersionAttribute()

    by_review = ReviewIndex()


class EventModel(Model):
    class Meta(_Meta):
        pass

    customer_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    received_at = UnicodeAttribute()
    source = UnicodeAttribute()
    properties = JSONAttribute(null=True)


class DueIndex(GlobalSecondaryIndex["EngineItem"]):
    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class EngineItem(Model):
    """Send ledger, journey timers, message records and campaign feedback (one table)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    data = JSONAttribute(null=True)
    counter = NumberAttribute(null=True, attr_name="n")
    created_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_due = DueIndex()


class RecsItem(Model):
    """Recommendation read model: ALSO#sku, RELATED#sku, CURATED#step (self-contained cards)."""

    class Meta(_Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    data = JSONAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)


class CustomerAuditIndex(GlobalSecondaryIndex["AuditItem"]):
    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)


class AuditItem(Model):
    """The audit trail (``dal/audit.py``): an object's changes by moment; by customer on the index."""

    class Meta(_Meta):
        pass

    object = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)
    action = UnicodeAttribute()
    actor = UnicodeAttribute()
    details = JSONAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_customer = CustomerAuditIndex()


_BINDINGS: tuple[tuple[type[Model], str], ...] = (
    (CustomerModel, "customers_table"),
    (EventModel, "events_table"),
    (EngineItem, "engine_table"),
    (RecsItem, "recs_table"),
    (AuditItem, "audit_table"),
)


def bind(settings: Settings) -> None:
    """Point the models at the configured tables (idempotent; resets cached connections)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    for model, field in _BINDINGS:
        name = getattr(settings, field)
        if model.Meta.table_name != name or model.Meta.region != region:
            model.Meta.table_name = name
            model.Meta.region = region
            model._connection = None
