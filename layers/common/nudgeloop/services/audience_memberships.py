"""The daily membership evaluation of the saved audiences campaigns read (the rule and its cost:
``domain/audience_memberships``).

When a snapshot run becomes current, the snapshot function starts, for every saved audience an
active campaign names, one job of the export function (``start_due``; its id derived from the
audience and the run, so each once per run). Its query answers the changes since the memberships
the snapshot exported; the export function applies them (``apply``): an entered member's item is
written only if absent and then announced on the bus as ``AudienceEntered`` (the trigger
function starts the campaigns whose ``audience_entered`` trigger names the audience, each once
per customer and run); a member who left loses the item. Applying is resumable: the rows done
are saved when an invocation's time runs out, and a row applied twice changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.bus import BusEvent, EventBridgePublisher
from nudgeloop.adapters.objects import csv_rows
from nudgeloop.config import settings
from nudgeloop.dal import memberships as store
from nudgeloop.domain import audience_memberships as rules
from nudgeloop.observability import logger
from nudgeloop.services import audience_exports, audience_store, campaign_store

SOURCE = "nudgeloop.audiences"
DETAIL_TYPE = "AudienceEntered"
PUBLISH_EVERY = 100  # entered members announced in PutEvents of 10, flushed every this many rows


def job_id(audience_id: str, run: str) -> str:
    return hashlib.sha256(f"{audience_id}|membership|{run}".encode()).hexdigest()[:16]


def referenced(campaigns_bucket: str) -> set[str]:
    """The saved audiences the campaigns taking entries now read (entry audience or trigger)."""
    return {name for pinned in campaign_store.active(campaigns_bucket) for name in pinned.campaign.saved_audiences()}


def start_due(bucket: str, snapshot: dict[str, Any]) -> list[str]:
    """Start the membership evaluation of every audience a campaign reads, for the current
    ``snapshot`` run (each once); returns the job ids started now. A campaign naming an audience
    that is not saved is logged and skipped."""
    started = []
    for audience_id in sorted(referenced(bucket)):
        saved = audience_store.get(bucket, audience_id)
        if saved is None:
            logger.warning("a campaign reads an audience that is not saved", extra={"audience_id": audience_id})
            continue
        the_id = job_id(audience_id, snapshot["run"])
        membership = {"run": snapshot["run"], "applied": 0}
        if audience_exports.start(saved, snapshot, audience_exports.MEMBERSHIP, the_id, membership=membership):
            started.append(the_id)
    if started:
        logger.info("membership evaluations started", extra={"run": snapshot["run"], "started": len(started)})
    return started


def apply(record: dict[str, Any], result: str, deadline: float) -> bool:
    """Apply the changes of Athena's ``result`` (``s3://...``) from the row the record says was
    reached; True when all are applied (counts in ``record["membership"]``), False when the
    ``deadline`` (``time.monotonic()``) came first (to be continued from the saved position)."""
    membership = record["membership"]
    audience_id, run = record["audience_id"], membership["run"]
    # an audience's first evaluation is its baseline (decided once: a continuation reads it saved)
    baseline = membership.setdefault("baseline", not store.evaluated_before(audience_id))
    bucket, _, key = result.removeprefix("s3://").partition("/")
    rows = csv_rows(bucket, key)
    header = next(rows, None)
    if header is not None and tuple(header) != rules.COLUMNS:  # pragma: no cover - the query names them
        raise RuntimeError(f"the membership query's columns are {header}")
    publisher = EventBridgePublisher(settings().bus_name)
    announce: list[BusEvent] = []
    now, done = clock.now(), int(membership["applied"])
    counts = {rules.ENTERED: int(membership.get(rules.ENTERED, 0)), rules.LEFT: int(membership.get(rules.LEFT, 0))}
    for number, (customer_id, change) in enumerate(rows):
        if number < done:
            continue
        if change == rules.ENTERED:
            if store.enter(audience_id, customer_id, run, now) and not baseline:
                detail = {"customer_id": customer_id, "audience_id": audience_id, "run": run, "on": now.date().isoformat()}
                announce.append(BusEvent(source=SOURCE, detail_type=DETAIL_TYPE, detail=detail))
        else:
            store.leave(audience_id, customer_id)
        counts[change] += 1
        done = number + 1
        if len(announce) >= PUBLISH_EVERY or time.monotonic() >= deadline:
            publisher.publish(announce)  # before the position is saved: a retry announces again, the trigger dedupes
            announce = []
            if time.monotonic() >= deadline:
                membership.update(applied=done, **counts)
                return False
    publisher.publish(announce)
    membership.update(applied=done, **counts)
    store.record_evaluation(audience_id, run, record["evaluated_at"])
    logger.info("memberships applied", extra={"audience_id": audience_id, "run": run, "baseline": baseline, **counts})
    return True
