"""The journey interpreter: from a journey's state and what is known of the customer now, its
next outward action (send, wait or end). Pure: the plan function (``services/journey.py``) reads
the facts and records the entry; the forecast walks journeys with the same interpreter."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from nudgeloop.domain.campaigns import (
    END,
    MAX_JOURNEY_DAYS,
    BranchStep,
    Campaign,
    Condition,
    PointsStep,
    SendStep,
    SplitStep,
    Until,
    WaitStep,
)
from nudgeloop.domain.dates import zone
from nudgeloop.domain.journey_contract import JourneyState
from nudgeloop.domain.windows import SendWindow


def past_budget(state: JourneyState, until: datetime) -> bool:
    """Whether a wait ending at ``until`` would outlive the journey's execution."""
    entered = state.entered_at
    return bool(entered) and until > datetime.fromisoformat(str(entered)) + timedelta(days=MAX_JOURNEY_DAYS)


class Facts(BaseModel):
    """What the interpreter may know about the customer at a decision point."""

    step: str  # the customer's step on the staircase now
    ordered_since_entry: bool
    consent_ok: bool
    has_email: bool
    attributes: dict[str, Any] = Field(default_factory=dict)
    timezone: str | None = None
    country: str | None = None
    opened_since_entry: bool = False
    clicked_since_entry: bool = False
    # counted orders (refunds excluded) and bookings, for waits until a customer's date
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    average_gap_days: float | None = None  # between counted orders; None below two orders
    bookings: dict[str, tuple[datetime, datetime]] = Field(default_factory=dict)  # id -> (starts, ends)
    member_of: frozenset[str] = frozenset()  # of the saved audiences the campaign's entry names


def average_gap_days(order_times: list[datetime]) -> float | None:
    """The customer's average days between counted orders (None with fewer than two)."""
    if len(order_times) < 2:
        return None
    ordered = sorted(order_times)
    return (ordered[-1] - ordered[0]).total_seconds() / 86400 / (len(ordered) - 1)


def in_holdout(campaign_id: str, customer_id: str, percent: float) -> bool:
    """Whether the customer belongs to the campaign's control group (stable per pair)."""
    if percent <= 0:
        return False
    bucket = int(hashlib.sha256(f"holdout|{campaign_id}|{customer_id}".encode()).hexdigest()[:8], 16) / 0x100000000
    return bucket < percent / 100


def entry_outcome(campaign: Campaign, customer_id: str, facts: Facts) -> str:
    """How an entry ends up: ``entered``, ``not_in_audience`` or ``holdout`` (checked in that order)."""
    if campaign.audience is not None and not campaign.audience.admits(facts.step, facts.attributes, facts.member_of):
        return "not_in_audience"
    if in_holdout(campaign.id, customer_id, campaign.holdout_percent):
        return "holdout"
    return "entered"


def _holds(cond: Condition, facts: Facts) -> bool:
    for name in ("ordered_since_entry", "opened_since_entry", "clicked_since_entry"):
        wanted = getattr(cond, name)
        if wanted is not None and wanted != getattr(facts, name):
            return False
    if cond.attributes and any(facts.attributes.get(k) != v for k, v in cond.attributes.items()):
        return False
    return cond.segment_in is None or facts.step in cond.segment_in


def wait_target(until: Until, state: JourneyState, facts: Facts, now: datetime, window: SendWindow | None) -> datetime | None:
    """When an ``until`` wait ends (UTC), or None when its anchor is missing."""
    if until.anchor == "send_window":
        return (window or SendWindow()).next_slot(now, facts.timezone, facts.country)
    tz = zone(facts.timezone)
    anchor: date | None
    if until.anchor == "date":
        anchor = until.day
    elif until.anchor in ("booking_start", "booking_end"):
        booking = facts.bookings.get(str(state.trigger.get("ref", "")))
        anchor = None if booking is None else booking[0 if until.anchor == "booking_start" else 1].astimezone(tz).date()
    else:
        moment = facts.last_order_at if until.anchor == "last_order" else facts.first_order_at
        anchor = None if moment is None else moment.astimezone(tz).date()
    if anchor is None:
        return None
    days = until.offset_days
    if until.order_gap_multiple is not None:
        gap = facts.average_gap_days
        days += until.fallback_days if gap is None else round(gap * until.order_gap_multiple)
    local = datetime.combine(anchor + timedelta(days=days), time(until.at_hour), tz)
    target = local.astimezone(ZoneInfo("UTC"))
    if until.max_days is not None:
        target = min(target, now + timedelta(days=until.max_days))
    return target


def next_action(
    campaign: Campaign, state: JourneyState, facts: Facts, now: datetime, default_window: SendWindow | None = None
) -> JourneyState:
    """Advance a journey from ``state`` to its next outward action.

    Returns a new state whose ``action`` is ``send`` (with ``step_id`` and ``template``),
    ``wait`` (with ``wait_until``) or ``end`` (with ``reason``). Branches, exits and points steps
    are resolved here, so they cost no extra state transitions (the points passed are listed in
    ``grants``, for the caller to grant).
    """
    new = state.model_copy(
        update={
            "action": None,
            "template": None,
            "reason": None,
            "last": None,
            "voucher_prefix": None,
            "voucher_pool": None,
            "grants": [],
        }
    )

    def end(reason: str, **changes: Any) -> JourneyState:
        return new.advanced(action="end", reason=reason, **changes)

    if new.entry is None:  # the first decision: audience and holdout, once per journey
        new = new.advanced(entry=entry_outcome(campaign, state.customer_id, facts))
        if new.entry != "entered":
            return end(str(new.entry))
    if campaign.exit_on_order and facts.ordered_since_entry:
        return end("converted")
    if campaign.exit_unless_segment_in is not None and facts.step not in campaign.exit_unless_segment_in:
        return end("left_segment")
    if campaign.marketing and not facts.consent_ok:
        return end("no_consent")
    finished = len(campaign.steps)
    cursor = state.cursor
    for _ in range(len(campaign.steps) + 1):
        if cursor >= finished:
            return end("completed", cursor=cursor)
        step = campaign.steps[cursor]
        if isinstance(step, SendStep):
            window = campaign.send_window or default_window
            if window is not None and (campaign.marketing or campaign.send_window is not None):
                slot = window.next_slot(now, facts.timezone, facts.country)
                if slot > now and past_budget(state, slot):
                    return end(f"time_limit:{step.id}", cursor=finished)
                if slot > now:  # outside the window: wait for the next allowed moment, never drop
                    return new.advanced(cursor=cursor, action="wait", waiting=f"window:{step.id}", wait_until=slot.isoformat())
            return new.advanced(
                cursor=cursor + 1,
                action="send",
                step_id=step.id,
                template=step.template,
                voucher_prefix=step.voucher_prefix,
                voucher_pool=step.voucher_pool,
                voucher_days=step.voucher_days,
            )
        if isinstance(step, WaitStep):
            until = new.wait_until
            if new.waiting == step.id and until and now >= datetime.fromisoformat(until):
                new = new.advanced(waiting=None, wait_until=None)
                cursor += 1
                continue
            if new.waiting != step.id:
                if step.until is None:
                    until = (now + step.duration()).isoformat()
                else:
                    ends = wait_target(step.until, state, facts, now, campaign.send_window or default_window)
                    if ends is None:
                        return end(f"no_date:{step.id}", cursor=finished)
                    if ends <= now:  # already past: no wait at all
                        cursor += 1
                        continue
                    until = ends.isoformat()
                if past_budget(state, datetime.fromisoformat(until)):
                    return end(f"time_limit:{step.id}", cursor=finished)
            return new.advanced(cursor=cursor, action="wait", waiting=step.id, wait_until=until)
        if isinstance(step, PointsStep):  # granted by the Plan that passes it (services/journey)
            new = new.advanced(grants=[*new.grants, {"step_id": step.id, "points": step.points, "reason": step.reason}])
            cursor += 1
            continue
        if isinstance(step, BranchStep | SplitStep):
            if isinstance(step, SplitStep):
                target = step.pick(campaign.id, state.customer_id)
                new = new.advanced(variants={**new.variants, step.id: target})  # which arm, for the results
            else:
                target = step.then if _holds(step.when, facts) else step.otherwise
            if target == END:
                return end(f"branch:{step.id}", cursor=finished)
            cursor = campaign.index(target)
            continue
        return end(f"exit:{step.id}", cursor=finished)
    return end("loop")
