"""Date triggers (pure): birthdays, first-purchase anniversaries, N days after the first or last
purchase, N days before or after a booked service.

Occurrences are local calendar dates in the customer's timezone. A daily run at any UTC hour
covers, per customer, the local dates in ``(local(previous run), local(this run)]``: every local
date falls in exactly one run's window, also across DST changes and missed days. Birthdays on
29 February fall on 28 February in non-leap years.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nudgeloop.domain import idempotency

DateKind = Literal[
    "birthday",
    "first_purchase_anniversary",
    "days_after_first_purchase",
    "days_after_last_purchase",
    "days_before_service",
    "days_after_service",
]


@dataclass(frozen=True, order=True)
class DateRule:
    kind: DateKind
    days: int = 0


# Yearly occasions fired whether or not a campaign asks (campaigns add their N-day offsets).
ALWAYS = (DateRule("birthday"), DateRule("first_purchase_anniversary"))


@dataclass(frozen=True)
class Booking:
    booking_id: str
    service: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class DateFacts:
    timezone: str | None = None
    birthday: str | None = None  # YYYY-MM-DD or --MM-DD (year unknown)
    first_order: date | None = None  # UTC calendar dates of counted orders
    last_order: date | None = None
    bookings: tuple[Booking, ...] = ()


@dataclass(frozen=True)
class Occurrence:
    rule: DateRule
    on: date  # the customer's local date
    ref: str  # what it is about (year, booking id)

    def key(self) -> str:
        """Unique per occurrence: the exactly-once marker and the journey occurrence key."""
        return idempotency.date_occurrence(self.rule.kind, self.rule.days, self.on, self.ref)


TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


def valid_timezone(name: str) -> bool:
    """An IANA zone name this runtime knows (the name is checked before any file is opened)."""
    if len(name) > 64 or not TZ_NAME.match(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name) if name and valid_timezone(name) else ZoneInfo("UTC")


def parse_birthday(text: str) -> tuple[int, int]:
    """``1990-02-29`` or ``--02-29`` -> (2, 29); raises ValueError for impossible dates."""
    if text.startswith("--"):
        month, day = (int(p) for p in text[2:].split("-"))
        date(2000, month, day)  # a leap year accepts every real month-day
        return month, day
    parsed = date.fromisoformat(text)
    return parsed.month, parsed.day


def yearly(month: int, day: int, year: int) -> date:
    """The month-day in ``year``; 29 February becomes 28 February in non-leap years."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def local_window(previous_run: datetime, this_run: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """Local dates ``(start, end]`` this run covers for a customer in ``tz``."""
    return previous_run.astimezone(tz).date(), this_run.astimezone(tz).date()


def _candidates(facts: DateFacts, rule: DateRule, first: date, last: date) -> list[tuple[date, str]]:
    """Occurrences of ``rule`` with local date in ``[first, last]``."""
    found: list[tuple[date, str]] = []
    tz = zone(facts.timezone)
    if rule.kind in ("birthday", "first_purchase_anniversary"):
        if rule.kind == "birthday":
            if not facts.birthday:
                return []
            month, day = parse_birthday(facts.birthday)
            since = None
        else:
            if facts.first_order is None:
                return []
            month, day, since = facts.first_order.month, facts.first_order.day, facts.first_order.year
        for year in range(first.year, last.year + 1):
            on = yearly(month, day, year)
            if first <= on <= last and (since is None or year > since):
                found.append((on, str(year)))
        return found
    if rule.kind == "days_after_first_purchase" and facts.first_order:
        found.append((facts.first_order + timedelta(days=rule.days), facts.first_order.isoformat()))
    elif rule.kind == "days_after_last_purchase" and facts.last_order:
        found.append((facts.last_order + timedelta(days=rule.days), facts.last_order.isoformat()))
    elif rule.kind == "days_before_service":
        found += [(b.starts_at.astimezone(tz).date() - timedelta(days=rule.days), b.booking_id) for b in facts.bookings]
    elif rule.kind == "days_after_service":
        found += [(b.ends_at.astimezone(tz).date() + timedelta(days=rule.days), b.booking_id) for b in facts.bookings]
    return [(on, ref) for on, ref in found if first <= on <= last]


def occurrences(facts: DateFacts, rules: tuple[DateRule, ...], previous_run: datetime, this_run: datetime) -> list[Occurrence]:
    """Every occurrence whose local date lies in this run's window, in date order."""
    start, end = local_window(previous_run, this_run, zone(facts.timezone))
    if end <= start:
        return []
    found = [Occurrence(rule, on, ref) for rule in rules for on, ref in _candidates(facts, rule, start + timedelta(days=1), end)]
    return sorted(found, key=lambda o: (o.on, o.rule, o.ref))


def next_review(
    facts: DateFacts, rules: tuple[DateRule, ...], covered_until: datetime, not_before: date, horizon_days: int = 400
) -> date | None:
    """The first run date (UTC) on which a daily run may find this customer's next occurrence.

    ``covered_until`` is the moment up to which runs have looked (local dates up to then are
    done). Local dates run up to a day ahead of or behind UTC, so the review is set one day before
    the local date; a run that comes too early finds nothing and looks again the next day.
    """
    lo = covered_until.astimezone(zone(facts.timezone)).date() + timedelta(days=1)
    dates = [on for rule in rules for on, _ in _candidates(facts, rule, lo, lo + timedelta(days=horizon_days))]
    if not dates:
        return None
    return max(min(dates) - timedelta(days=1), not_before)


def fingerprint(rules: tuple[DateRule, ...], staircase_version: str) -> str:
    """Changes when the rules that place customers change: then everyone is re-placed."""
    text = staircase_version + "|" + ",".join(f"{r.kind}:{r.days}" for r in sorted(set(rules)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
