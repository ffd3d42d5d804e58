"""Every idempotency key of the product, in one place: what makes two occurrences of something
the same, so that the second one does nothing.

Nobody gets the same mail twice because each link of the chain below is keyed: an event is
stored once (its id), a trigger starts one journey per occurrence (the execution name and the
entry claim), a journey step is sent once per journey (the ledger key), and what comes back is
counted once (feedback and migration ids). ``tests/unit/test_idempotency.py`` shows, for each
key, which differences make two occurrences distinct and which do not.

Keys are deterministic and contain no personal data in the clear where they leave the tables
(execution names, archive object names): customer ids are hashed there.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

EXECUTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # what Step Functions accepts


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ---------------------------------------------------------------- events in


def event_id_from_content(raw: dict[str, Any]) -> str:
    """An event sent without ``event_id``: the same type, customer, moment, source and
    properties is the same event (a resent batch is stored once); anything else differs."""
    canonical = json.dumps(
        {k: raw.get(k) for k in ("type", "customer_id", "occurred_at", "source", "properties")},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "c-" + _digest(canonical, 40)


def feedback_event_id(message_id: str, kind: str, link: str = "") -> str:
    """An SES event of a sent mail in the customer's history: one per message, kind and (for
    clicks) link; SES delivering the same notification again adds nothing."""
    return "ses-" + _digest(f"{message_id}|{kind}|{link}", 32)


def referral_converted_event_id(referee_customer_id: str) -> str:
    """A referred friend's first order in the referrer's history: one per friend (a friend
    becomes a customer once, however many orders follow)."""
    return "referral-" + _digest(referee_customer_id, 32)


def points_granted_event_id(execution: str, step_id: str) -> str:
    """Loyalty points a journey's points step granted: once per journey and step (a retried
    Plan grants nothing twice); also the ``webhook-id`` the shop's loyalty system sees."""
    return "points-" + _digest(f"{execution}|{step_id}", 32)


def voucher_redeemed_event_id(code: str) -> str:
    """A voucher's redemption in the customer's history: one per code (it is redeemed once)."""
    return "voucher-" + _digest(code, 32)


def migration_event_id(on: str, from_step: str, to_step: str) -> str:
    """A staircase migration in the customer's history: one per day and move (a re-run of the
    daily run, or the stream delivering the change again, records it once)."""
    return f"seg-{on}-{from_step}-{to_step}"


# ---------------------------------------------------------------- triggers


def date_occurrence(kind: str, days: int, on: date, ref: str) -> str:
    """A date occasion (birthday, N days after an order, before a booking): one per rule, local
    date and what it is about (the year, the booking id). Marks it fired, and is the journey's
    occurrence."""
    return f"{kind}:{days}:{on.isoformat()}:{ref}"


def trigger_occurrence(detail_type: str, detail: dict[str, Any]) -> str:
    """What makes one trigger of a campaign for a customer distinct from another: the date
    occasion, the behaviour's event, the scheduled send's day, the audience evaluation that found
    the customer entering, or the migration (from, to, day)."""
    if detail_type == "DateReached":
        return str(detail["occurrence"])
    if detail_type == "BehaviourObserved":
        return str(detail["event_id"])
    if detail_type == "ScheduleReached":
        return f"{detail['campaign_id']}@{detail['on']}"
    if detail_type == "AudienceEntered":  # one entry per membership evaluation (snapshot run) that found it
        return f"{detail['audience_id']}@{detail['run']}"
    return f"{detail.get('from')}>{detail.get('to')}@{detail.get('on')}"


def execution_name(campaign_id: str, reentry: str, customer_id: str, occurrence: str) -> str:
    """The journey's Step Functions execution name: one per (campaign, customer, occurrence), or
    per (campaign, customer) for ``never`` re-entry. A repeated trigger starts nothing. Names are
    1-80 characters of ``[A-Za-z0-9_-]``, validated here because moto accepts names AWS
    rejects."""
    who = _digest(customer_id, 20)
    when = "once" if reentry == "never" else _digest(occurrence, 16)
    name = f"{campaign_id}-{who}-{when}"
    if not EXECUTION_NAME_RE.match(name):
        raise ValueError(f"invalid execution name {name!r}")
    return name


OCCURRENCE_CLAIM_DAYS = 400  # a replay of an older occurrence than this may enter again


@dataclass(frozen=True)
class EntryClaim:
    """The campaign's re-entry rule as one conditional claim (``dal/campaign_stats.claim_entry``):
    decided in our table, not by Step Functions' execution names, which AWS forgets 90 days
    after an execution closes."""

    scope: Literal["occurrence", "customer"]  # what one claim covers
    reclaimable_before: datetime | None  # a claim made before this may be taken again; None: never
    expires: datetime | None  # when the claim item may go (TTL); None: kept


def entry_claim(reentry: str, days: int | None, now: datetime) -> EntryClaim:
    """``never``: one entry per customer, ever; ``after_days``: again once the last entry is
    ``days`` old; ``every_occurrence``: once per occurrence (the execution name carries it),
    the claim kept long enough that a replay of the occurrence finds it."""
    if reentry == "every_occurrence":
        return EntryClaim("occurrence", None, now + timedelta(days=OCCURRENCE_CLAIM_DAYS))
    if reentry == "after_days":
        return EntryClaim("customer", now - timedelta(days=days or 0), None)
    return EntryClaim("customer", None, None)


# ---------------------------------------------------------------- sending


def ledger_key(campaign_id: str, step_id: str, execution: str) -> str:
    """A journey step's send to its customer: once per step of one journey (``execution``).
    The ledger item, under the customer's partition, is reserved before SES is called."""
    return f"{campaign_id}#{step_id}#{execution}"


def ledger_key_parts(key: str) -> tuple[str, str, str]:
    """(campaign, step, execution) of a ledger key (campaign and step ids hold no ``#``)."""
    campaign_id, _, rest = key.partition("#")
    step_id, _, execution = rest.partition("#")
    return campaign_id, step_id, execution


def confirmation(purpose: str, requested_at: str) -> str:
    """A double opt-in confirmation mail: one per sign-up statement (purpose and the moment it
    was requested); stands in for the execution in its ledger key."""
    return _digest(f"{purpose}|{requested_at}", 24)


def archived_mail(customer_id: str, ledger_key: str) -> str:
    """The raw message kept in the archive: one object per ledger entry (a retry overwrites)."""
    return _digest(f"{customer_id}|{ledger_key}", 32)
