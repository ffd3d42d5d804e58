"""Matching bus events to campaigns and starting one journey per (campaign, customer, occurrence)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import campaign_stats
from nudgeloop.domain import idempotency
from nudgeloop.domain.journey_contract import JourneyState
from nudgeloop.observability import logger
from nudgeloop.services.campaign_store import Pinned


@dataclass
class Started:
    campaign_id: str
    name: str
    started: bool


TRIGGER_TYPES = {
    "SegmentMigrated": "segment_migrated",
    "DateReached": "date_reached",
    "BehaviourObserved": "behaviour",
    "ScheduleReached": "schedule",
    "AudienceEntered": "audience_entered",
}
# what a journey keeps of the event that started it (its templates and date waits read these)
TRIGGER_DETAILS = ("from", "to", "kind", "days", "on", "ref", "event_type", "event_id", "audience_id")


def handle_bus_event(envelope: dict[str, Any], campaigns: list[Pinned], state_machine_arn: str) -> list[Started]:
    """Start a journey for every enabled campaign (``campaign_store.active``, read once per
    batch) whose trigger the event matches."""
    trigger_type = TRIGGER_TYPES.get(envelope.get("detail-type", ""))
    if trigger_type is None:
        return []
    detail = envelope["detail"]
    customer_id = detail["customer_id"]
    occurrence = idempotency.trigger_occurrence(envelope["detail-type"], detail)
    # the id that follows a customer's event through to the mail it causes (the event's id; for
    # the daily run's triggers, the occurrence)
    correlation = str(detail.get("correlation_id") or f"{trigger_type}:{occurrence}")
    logger.set_correlation_id(correlation)
    results = []
    for pinned in campaigns:
        campaign = pinned.campaign
        if campaign.trigger.type != trigger_type or not campaign.trigger.matches(detail):
            continue
        if "campaign_id" in detail and detail["campaign_id"] != campaign.id:
            continue  # addressed to another campaign
        if "campaigns" in detail and campaign.id not in detail["campaigns"]:
            continue  # the event's values do not hold for this campaign's trigger (judged in processing)
        name = idempotency.execution_name(campaign.id, campaign.reentry, customer_id, occurrence)
        claim = idempotency.entry_claim(campaign.reentry, campaign.reentry_days, clock.now())
        if not campaign_stats.claim_entry(campaign.id, customer_id, name, clock.now(), claim):
            logger.info("entered already", extra={"campaign_id": campaign.id, "reentry": campaign.reentry})
            results.append(Started(campaign.id, name, False))
            continue
        state = JourneyState(
            campaign_id=campaign.id,
            version_id=pinned.version_id,
            customer_id=customer_id,
            execution=name,
            entered_at=clock.iso(clock.now()),
            correlation_id=correlation,
            trigger={"type": trigger_type, **{k: v for k, v in detail.items() if k in TRIGGER_DETAILS}},
        )
        started = _start(state_machine_arn, name, state)
        campaign_stats.mark_entry_started(campaign.id, customer_id, name, claim)
        results.append(Started(campaign.id, name, started))
    return results


def _start(state_machine_arn: str, name: str, state: JourneyState) -> bool:
    try:
        client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(state.wire()))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
            logger.info("journey already started", extra={"execution": name})
            return False
        raise
    logger.info("journey started", extra={"execution": name, "campaign_id": state.campaign_id})
    return True
