"""The journey interpreter behind the generic state machine: plan, park and wake."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import campaign_stats, customer_store, event_log, ledger, memberships, timers
from nudgeloop.domain import consent, idempotency
from nudgeloop.domain.customer import Customer
from nudgeloop.domain.events import JOURNEY_SOURCE, POINTS_GRANTED, Event
from nudgeloop.domain.journey_contract import JourneyState
from nudgeloop.domain.journeys import Facts, average_gap_days, next_action
from nudgeloop.domain.windows import SendWindow
from nudgeloop.journey_definition import MAX_PARK_S, PARK_GRACE_S, RECOVERY_DELAYS_S
from nudgeloop.observability import logger
from nudgeloop.services import campaign_store


def plan(
    raw_state: dict[str, Any], bucket: str, default_window: SendWindow | None = None, attribution_days: int = 7
) -> dict[str, Any]:
    """Decide the journey's next action from the campaign version pinned at entry (the state
    machine's Plan task: its input and output are a :class:`JourneyState` on the wire)."""
    return _plan(JourneyState.model_validate(raw_state), bucket, default_window, attribution_days).wire()


def _plan(state: JourneyState, bucket: str, default_window: SendWindow | None, attribution_days: int) -> JourneyState:
    correlation = str(state.correlation_id or state.execution or "")
    logger.set_correlation_id(correlation)
    if state.fault is not None:  # after a cool-down: a task had failed every try
        failed = state.failed_task
        logger.warning(
            "journey planned again after a failed task",
            extra={"task": failed, "error": str(state.fault.get("Error", "")), "cooldowns": int(state.recovery.get("n", 0))},
        )
        state = state.model_copy(update={"fault": None, "failed_task": None})
        if failed == "Send" and state.action == "send":  # its step is planned again: exits, window, consent
            state = _send_step_again(state)
    last = state.last or {}
    if last.get("status") == "deferred" and (last.get("result") or {}).get("retry_at"):
        # Over the frequency cap: parked until the cap allows it (the sender found when; the
        # deferral limit was applied there; the ledger reservation was given back).
        return _back_to_send_step(state, "deferred", str(last["result"]["retry_at"]))
    if last.get("status") == "held":
        # Marketing is paused (the reputation circuit breaker): parked until marketing resumes
        # (``reputation.resume`` releases it; no hourly polling, no history growing while paused).
        return _back_to_send_step(state, "held", clock.iso(clock.now() + timedelta(seconds=MAX_PARK_S)))
    campaign = campaign_store.load_version(bucket, campaign_store.key_for(state.campaign_id), str(state.version_id))
    customer = customer_store.get_customer(state.customer_id)
    if customer is None:
        return state.advanced(action="end", reason="unknown_customer")
    entered = clock.parse_iso(str(state.entered_at))
    counted = sorted(o.occurred_at for o in event_log.order_facts(customer.customer_id) if not o.refunded)
    ordered = any(at > entered for at in counted)
    engaged = event_log.engagement_since(customer.customer_id, campaign.id, entered)
    facts = Facts(
        step=customer.step,
        ordered_since_entry=ordered,
        consent_ok=consent.allows(dict(customer.consents or {}), campaign.consent_purpose),
        has_email=bool(customer.email),
        attributes=dict(customer.attributes or {}),
        timezone=customer.timezone,
        country=customer.country,
        opened_since_entry="opened" in engaged,
        clicked_since_entry="clicked" in engaged,
        first_order_at=counted[0] if counted else None,
        last_order_at=counted[-1] if counted else None,
        average_gap_days=average_gap_days(counted),
        bookings={
            str(b["booking_id"]): (clock.parse_iso(str(b["starts_at"])), clock.parse_iso(str(b["ends_at"])))
            for b in customer.bookings or []
        },
        member_of=_member_of(campaign.audience.saved if campaign.audience and state.entry is None else None, customer),
    )
    result = next_action(campaign, state, facts, clock.now(), default_window)
    if state.entry is None and result.entry is not None:  # counted once per journey (a retried Plan finds it recorded)
        now = clock.now()
        closes = clock.iso(now + timedelta(days=attribution_days))  # then compared with the holdout group
        campaign_stats.record_entry(campaign.id, state.execution, result.entry, clock.iso(now), customer.customer_id, closes)
    for grant in result.grants:  # before the state moves on: a retried Plan grants the same, once
        _grant_points(result, grant)
    result = result.advanced(correlation_id=correlation)  # always present: the Send task passes it on
    if result.action == "wait":
        result = _parked(result)
    if result.action == "send":
        result = result.advanced(
            consent_purpose=campaign.consent_purpose, cap_deferral_days=campaign.cap_deferral_days, priority=campaign.priority
        )
    return result


def _member_of(audience_id: str | None, customer: Customer) -> frozenset[str]:
    """The saved entry audience, if the customer is a member (read at entry only: one GetItem)."""
    member = audience_id is not None and memberships.is_member(audience_id, customer.customer_id)
    return frozenset({audience_id}) if member and audience_id else frozenset()


def _grant_points(state: JourneyState, grant: dict[str, Any]) -> None:
    """``loyalty.points_granted`` in the customer's history, once per journey and step; the
    events stream publishes it for the outbound webhooks (``services/outbox``)."""
    now = clock.now()
    event_log.store_event(
        Event(
            event_id=idempotency.points_granted_event_id(state.execution, str(grant["step_id"])),
            type=POINTS_GRANTED,
            customer_id=state.customer_id,
            occurred_at=now,
            source=JOURNEY_SOURCE,
            properties={
                "points": int(grant["points"]),
                "reason": str(grant["reason"]),
                "campaign_id": state.campaign_id,
                "step_id": str(grant["step_id"]),
                "journey": state.execution,
            },
            received_at=now,
        )
    )


def _back_to_send_step(state: JourneyState, why: str, until: str) -> JourneyState:
    """Park on the send step just tried, until ``until``: exits and the send window are checked
    again when it wakes, and nothing is sent twice."""
    again = _send_step_again(state)
    return _parked(again.advanced(action="wait", waiting=f"{why}:{state.step_id}", wait_until=until))


def _send_step_again(state: JourneyState) -> JourneyState:
    """The state before the send step just tried (Plan had moved the cursor past it)."""
    return state.model_copy(update={"last": None, "template": None, "reason": None, "cursor": state.cursor - 1})


def _parked(result: JourneyState) -> JourneyState:
    """The Park task's timeout: the wait plus a day of grace, at most MAX_PARK_S (the safety net
    for a timer the sweep never woke; Plan then parks again). Held journeys re-check monthly."""
    left = (clock.parse_iso(str(result.wait_until)) - clock.now()).total_seconds()
    return result.advanced(park_timeout_s=int(min(max(left, 0) + PARK_GRACE_S, MAX_PARK_S)))


def park(event: dict[str, Any]) -> dict[str, Any]:
    """Store a waiting journey's task token until its ``wait_until`` (the wake sweep resumes it),
    or, for a journey held by a marketing pause, until marketing resumes; or, cooling down after a
    task failed every try (``cooldown``), for the n-th cool-down's delay."""
    state = JourneyState.model_validate(event["state"])
    if event.get("cooldown"):
        n = int(state.recovery.get("n", 1))
        due = clock.now() + timedelta(seconds=cooldown_s(n))
        timers.park_timer(event["execution"], event["token"], due, {"campaign_id": state.campaign_id})
        return {"parked_until": clock.iso(due), "cooldown": n}
    due = clock.parse_iso(str(state.wait_until))
    held = (state.waiting or "").startswith("held:")
    timers.park_timer(event["execution"], event["token"], due, {"campaign_id": state.campaign_id}, held=held)
    return {"parked_until": "resume" if held else clock.iso(due)}


def cooldown_s(n: int) -> int:
    """The n-th cool-down's delay (1-based; the last one for any later)."""
    return RECOVERY_DELAYS_S[min(max(n, 1), len(RECOVERY_DELAYS_S)) - 1]


def wake() -> int:
    """Resume every journey whose wait is over; returns how many were woken."""
    now = clock.now()
    woken = 0
    sfn = client("stepfunctions")
    for timer in list(timers.due_timers(now)):
        token = timer.token
        try:
            sfn.send_task_success(taskToken=token, output=json.dumps({"woke_at": clock.iso(now)}))
            woken += 1
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                raise
            logger.warning("timer for a finished journey dropped", extra={"code": code})
        timers.delete_timer(timer)
    return woken


def sends_in_doubt() -> int:
    """How many send reservations are in doubt now (see ``ledger.in_doubt``); each is logged
    with its ledger key (no personal data) so an operator can settle it."""
    found = ledger.in_doubt(clock.now())
    for item in found:
        logger.error("send in doubt", extra={"ledger": item.key, "reserved_at": item.created_at})
    return len(found)
