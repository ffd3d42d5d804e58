"""Forecasting a campaign before it goes live (pure): who would enter in the next N days, which
steps they would get, how many sends the contact policy would cap, and how journeys would end.

The same interpreter the journeys run (``next_action``) walks every forecast journey on a
simulated clock. Assumptions, reported with every forecast: nobody orders, opens or clicks
during the horizon (so it is the most mail the campaign can send), consent and addresses stay
as they are now, and behaviour recurs as it happened in the last N days.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from nudgeloop.domain import contact_policy, dates
from nudgeloop.domain.campaigns import (
    AudienceTrigger,
    BehaviourTrigger,
    Campaign,
    DateTrigger,
    MigrationTrigger,
    ScheduleTrigger,
    SendStep,
)
from nudgeloop.domain.journey_contract import JourneyState
from nudgeloop.domain.journeys import Facts, average_gap_days, next_action
from nudgeloop.domain.staircase import Staircase
from nudgeloop.domain.windows import SendWindow

UTC = ZoneInfo("UTC")
MAX_DAYS = 366
ASSUMPTIONS = (
    "nobody orders, opens or clicks during the horizon: the most mail the campaign can send",
    "consent, addresses and suppressions stay as they are now",
    "behaviour triggers recur as they happened in the N days before now",
    "journeys already running for this campaign are not counted",
    "saved audiences are not re-evaluated (Athena): an entry audience {saved: ID} admits its members as of "
    "its latest daily evaluation, for the whole horizon, and an audience_entered trigger forecasts no entries",
)


@dataclass(frozen=True)
class Subject:
    """One customer as the forecast sees them (a snapshot of the stored data)."""

    customer_id: str
    segment: str
    order_times: tuple[datetime, ...] = ()  # counted orders
    order_values: tuple[Decimal, ...] = ()
    consents_ok: frozenset[str] = frozenset()  # purposes whose mails may go out now
    has_email: bool = True
    suppressed: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    country: str | None = None
    birthday: str | None = None
    bookings: tuple[dates.Booking, ...] = ()
    marketing_sent: tuple[datetime, ...] = ()  # marketing mails already sent (the cap's count)
    behaviour: tuple[tuple[datetime, str, frozenset[str]], ...] = ()  # (when, type, properties)
    member_of: frozenset[str] = frozenset()  # saved audiences, as of their latest daily evaluation


@dataclass
class Forecast:
    campaign_id: str
    start: datetime
    end: datetime
    entries: Counter[str] = field(default_factory=Counter)  # entered, holdout, not_in_audience, reentry_too_soon
    steps: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # step -> outcome -> n
    exits: Counter[str] = field(default_factory=Counter)  # how journeys ended within the horizon
    waiting: Counter[str] = field(default_factory=Counter)  # still waiting at the horizon, by step
    customers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "customers_considered": self.customers,
            "entries": dict(self.entries),
            "steps": {step: dict(outcomes) for step, outcomes in self.steps.items()},
            "exits": dict(self.exits),
            "waiting_at_end": dict(self.waiting),
            "assumptions": list(ASSUMPTIONS),
        }


def _run_time(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def _segment_on(subject: Subject, stairs: Staircase, day: date) -> str:
    orders = [(t.date(), v) for t, v in zip(subject.order_times, subject.order_values, strict=True)]
    return stairs.step_of(orders, day)


def entries(
    campaign: Campaign, subject: Subject, stairs: Staircase, start: datetime, days: int, run_hour: int = 3
) -> list[tuple[datetime, str]]:
    """When the campaign's trigger would fire for this customer in ``(start, start + days]``,
    with what the occurrence is (the journey's idempotency key part)."""
    trigger = campaign.trigger
    end = start + timedelta(days=days)
    first_day = start.date() + timedelta(days=1)
    found: list[tuple[datetime, str]] = []
    if isinstance(trigger, MigrationTrigger):
        previous = subject.segment
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            now = _segment_on(subject, stairs, day)
            if now != previous and trigger.matches({"from": previous, "to": now}):
                found.append((_run_time(day, run_hour), f"{previous}>{now}@{day}"))
            previous = now
    elif isinstance(trigger, DateTrigger):
        facts = dates.DateFacts(
            subject.timezone,
            subject.birthday,
            subject.order_times[0].date() if subject.order_times else None,
            subject.order_times[-1].date() if subject.order_times else None,
            subject.bookings,
        )
        for occurrence in dates.occurrences(facts, (trigger.rule(),), start, end):
            found.append((_run_time(occurrence.on, run_hour), occurrence.key()))
    elif isinstance(trigger, BehaviourTrigger):
        wanted = set(trigger.with_properties or ())
        for at, kind, props in subject.behaviour:  # the last N days, replayed N days later
            if kind == trigger.event and wanted <= props and start - timedelta(days=days) < at <= start:
                found.append((at + timedelta(days=days), f"{kind}@{at.isoformat()}"))
    elif isinstance(trigger, AudienceTrigger):
        pass  # who enters a saved audience is known only from its daily evaluation (Athena), not from a replay
    elif isinstance(trigger, ScheduleTrigger):
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            if trigger.due(day) and _segment_on(subject, stairs, day) in trigger.segments:
                found.append((_run_time(day, run_hour), f"{campaign.id}@{day}"))
    return [(at, key) for at, key in sorted(found) if start < at <= end]


def _admitted(campaign: Campaign, times: list[tuple[datetime, str]]) -> tuple[list[datetime], int]:
    """The entries the re-entry policy lets in, and how many it turns away."""
    if campaign.reentry == "never":
        return [t for t, _ in times[:1]], 0  # later ones start the same journey (its name is per customer)
    if campaign.reentry == "every_occurrence":
        return [t for t, _ in times], 0
    kept: list[datetime] = []
    for at, _ in times:
        if not kept or at - kept[-1] >= timedelta(days=int(campaign.reentry_days or 0)):
            kept.append(at)
    return kept, len(times) - len(kept)


def simulate(
    campaign: Campaign,
    subjects: list[Subject],
    stairs: Staircase,
    start: datetime,
    days: int,
    *,
    default_window: SendWindow | None = None,
    frequency_cap: tuple[int, int] | None = None,
) -> Forecast:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1 to {MAX_DAYS}")
    result = Forecast(campaign.id, start, start + timedelta(days=days), customers=len(subjects))
    for subject in subjects:
        admitted, too_soon = _admitted(campaign, entries(campaign, subject, stairs, start, days))
        if too_soon:
            result.entries["reentry_too_soon"] += too_soon
        sent = sorted(subject.marketing_sent)
        for entered in admitted:
            sent = _journey(campaign, subject, stairs, entered, result, sent, default_window, frequency_cap)
    return result


def _journey(
    campaign: Campaign,
    subject: Subject,
    stairs: Staircase,
    entered: datetime,
    result: Forecast,
    sent: list[datetime],
    window: SendWindow | None,
    cap: tuple[int, int] | None,
) -> list[datetime]:
    """Walk one journey with the real interpreter; returns the customer's marketing sends so far."""
    bookings = {b.booking_id: (b.starts_at, b.ends_at) for b in subject.bookings}
    state = JourneyState(customer_id=subject.customer_id)
    counted = False
    now = entered
    marketing = contact_policy.is_marketing(campaign.consent_purpose)
    for _ in range(4 * len(campaign.steps) + 4):
        facts = Facts(
            step=_segment_on(subject, stairs, now.date()),
            ordered_since_entry=False,
            consent_ok=campaign.consent_purpose in subject.consents_ok,
            has_email=subject.has_email,
            attributes=subject.attributes,
            timezone=subject.timezone,
            country=subject.country,
            first_order_at=subject.order_times[0] if subject.order_times else None,
            last_order_at=subject.order_times[-1] if subject.order_times else None,
            average_gap_days=average_gap_days(list(subject.order_times)),
            bookings=bookings,
            member_of=subject.member_of,
        )
        state = next_action(campaign, state, facts, now, window)
        if state.entry is not None and not counted:
            result.entries[state.entry] += 1
            counted = True
        if state.action == "end":
            if state.reason not in ("holdout", "not_in_audience"):
                result.exits[str(state.reason)] += 1
            return sent
        if state.action == "wait":
            until = datetime.fromisoformat(str(state.wait_until))
            if until > result.end:
                result.waiting[(state.waiting or "").removeprefix("window:")] += 1
                return sent
            now = until
            continue
        step = campaign.steps[state.cursor - 1]
        assert isinstance(step, SendStep)
        outcome, retry_at = _send_outcome(campaign, subject, now, sent, cap, marketing)
        result.steps[step.id][outcome] += 1
        if outcome == "sent" and marketing:
            sent = [*sent, now]
        if retry_at is not None:  # deferred by the cap: the same step again when it allows
            if retry_at > result.end:
                result.waiting[f"deferred:{step.id}"] += 1
                return sent
            state, now = state.advanced(cursor=state.cursor - 1), retry_at
    result.exits["loop"] += 1
    return sent


def _send_outcome(
    campaign: Campaign, subject: Subject, now: datetime, sent: list[datetime], cap: tuple[int, int] | None, marketing: bool
) -> tuple[str, datetime | None]:
    """What the send step would do at ``now``: the contact policy's answer, as sending asks it
    (and, deferred by the cap, when to try again)."""
    facts = contact_policy.Facts(
        address="ok" if subject.has_email else "missing",
        consent=campaign.consent_purpose in subject.consents_ok,
        marketing=marketing,
        suppressed="suppressed" if subject.suppressed else None,
    )
    refusal = contact_policy.before_reserving(facts)
    if refusal is None and cap is not None:
        recent = [t for t in sent if now - timedelta(days=cap[1]) <= t <= now]
        refusal = contact_policy.over_cap(marketing, recent, cap, now, campaign.cap_deferral_days)
    if refusal is None:
        return "sent", None
    return (refusal.status if refusal.status == "deferred" else refusal.counter), refusal.retry_at
