"""A customer as the services see it: a plain value, read from and written to the customers table
by ``dal/customer_store.py`` (the only module that knows the stored item).

``step`` is the customer's step on the staircase (stored as ``segment``, the older name: see the
glossary in ``docs/architecture.md``). ``version`` is the optimistic lock: a save succeeds only
over the version read. A customer read through the review index or a placement scan carries only
the fields placement needs; the others are None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nudgeloop.domain.step_counts import ENTRY_STEP

FIRST_STEP = ENTRY_STEP  # a new customer's step (one home: domain/step_counts)


@dataclass
class Customer:
    customer_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    gender: str | None = None
    country: str | None = None
    birthday: str | None = None
    address: dict[str, Any] | None = None  # PostalAddress fields: line1, line2, postal_code, city, region, country
    attributes: dict[str, Any] = field(default_factory=dict)
    # booked services: booking_id, service, starts_at, ends_at
    bookings: list[dict[str, Any]] = field(default_factory=list)
    profile_updated_at: str | None = None
    consents: dict[str, Any] = field(default_factory=dict)
    referral_code: str | None = None  # the friend's code the customer signed up with, if any
    step: str = FIRST_STEP
    step_since: str | None = None
    staircase_version: str | None = None
    review_on: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    version: int | None = None  # None: never saved
