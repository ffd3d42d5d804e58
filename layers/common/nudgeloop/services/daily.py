"""The scheduled run: re-places customers whose step or date occasion is due, and fires
date occasions (birthdays, anniversaries, N days after a purchase, around a booked service)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.bus import MAX_ENTRIES, BusEvent, Publisher
from nudgeloop.dal import customer_store, event_log, jobs, step_tallies
from nudgeloop.domain import dates
from nudgeloop.domain.campaigns import ScheduleTrigger
from nudgeloop.domain.customer import Customer
from nudgeloop.services import segmenting
from nudgeloop.services.segmenting import Rules

RUN_KEY = "segment_daily"


@dataclass
class RunResult:
    examined: int = 0
    migrated: int = 0
    occasions: int = 0
    full_scan: bool = False
    scheduled: int = 0  # ScheduleReached events (newsletters) published


def run(
    publisher: Publisher,
    rules: Rules,
    *,
    part: int = 0,
    parts: int = 1,
    full: bool = False,
    previous_run: str | None = None,
    fan_out: Callable[[dict[str, Any]], None] | None = None,
    rescan_segments: int = 8,
    schedules: Sequence[tuple[str, ScheduleTrigger]] = (),
) -> RunResult:
    """Re-place the customers due today (all of them when the rules changed), 10 events a call.

    Events are published before customers and exactly-once markers are saved, so a crash can
    repeat an event but never lose one (journeys start idempotently); a re-run of the same day
    finds nobody due and nothing new in its date window. A full scan can be split across
    ``parts`` parallel invocations (the scan parts of a DynamoDB parallel scan).
    """
    now = clock.now()
    if part == 0:
        # Customers per step at the end of yesterday: the counting consumer has tallied
        # yesterday's moves from the customers table's stream by now; fold them, then snapshot.
        step_tallies.fold_step_tallies()
        yesterday = now.date() - timedelta(days=1)
        step_tallies.save_segment_day(yesterday, step_tallies.segment_counts_at_end_of(yesterday, now.date()))
    state = jobs.run_state(RUN_KEY)
    if previous_run:
        previous = clock.parse_iso(previous_run)
    else:
        previous = clock.parse_iso(state["at"]) if state else now - timedelta(days=1)
    result = RunResult(full_scan=full or (state is not None and state.get("fingerprint") != rules.fingerprint()))
    if result.full_scan and parts == 1 and fan_out is not None and rescan_segments > 1:
        # Rules changed: re-place everyone, one scan part per invocation.
        parts = rescan_segments
        for other in range(1, parts):
            fan_out({"part": other, "parts": parts, "full": True, "previous_run": clock.iso(previous)})
    if result.full_scan:
        due = list(customer_store.scan_for_placement(part, parts))
    else:
        due = list({c.customer_id: c for c in customer_store.due_for_review(now.date())}.values())
    for start in range(0, len(due), MAX_ENTRIES):
        chunk = due[start : start + MAX_ENTRIES]
        for _attempt in range(5):
            retry = _place_chunk(chunk, rules, publisher, previous, result)
            if not retry:
                break
            # Someone changed them since the index was read: reload them whole and place again.
            chunk = [c for c in (customer_store.get_customer(i) for i in retry) if c is not None]
        else:
            raise RuntimeError(f"{len(retry)} customers kept changing; the run will be retried")
    if part == 0:
        result.scheduled = _scheduled_sends(publisher, schedules, now)
        jobs.save_run_state(RUN_KEY, {"at": clock.iso(now), "fingerprint": rules.fingerprint()})
    return result


def _place_chunk(
    customers: list[Customer], rules: Rules, publisher: Publisher, previous: datetime, result: RunResult
) -> list[str]:
    """Place up to 10 customers, publish their date events in one call, save each (with its
    migration's history entry); returns the ids that changed meanwhile (to retry)."""
    now = clock.now()
    placed: list[tuple[Customer, BusEvent | None, list[dates.Occurrence]]] = []
    for customer in customers:
        customer_id = customer.customer_id
        placed_now = segmenting.refresh(
            customer,
            rules,
            "schedule",
            event_log.order_facts(customer_id),  # one Query of the customer's event partition
            covered_until=now,
            not_before=now.date() + timedelta(days=1),
        )
        migration = placed_now.migration
        found = dates.occurrences(placed_now.dates, rules.dates, previous, now)
        fresh = [o for o in found if not jobs.occasion_fired(customer_id, o.key())]
        placed.append((customer, migration, fresh))
    # migrations are written with the saves, in the customers' histories, and published from there
    events = [segmenting.date_reached(c.customer_id, o) for c, _, occ in placed for o in occ]
    if events:
        publisher.publish(events)
    retry = []
    for customer, migration, fresh in placed:
        for occurrence in fresh:
            jobs.mark_occasion(customer.customer_id, occurrence.key(), now)
        result.occasions += len(fresh)
        if customer_store.save_placement(customer, segmenting.recording(migration)):
            result.examined += 1
            result.migrated += migration is not None
        else:
            retry.append(customer.customer_id)
    return retry


def _scheduled_sends(publisher: Publisher, schedules: Sequence[tuple[str, ScheduleTrigger]], now: datetime) -> int:
    """Address a ``ScheduleReached`` to everyone on the steps of each schedule due today (once a
    day: a re-run the same day publishes again, and the journeys' names make that start nothing)."""
    today = now.date()
    published = 0
    for campaign_id, schedule in schedules:
        if not schedule.due(today):
            continue
        batch: list[BusEvent] = []
        for customer_id in customer_store.customers_on(schedule.segments):
            detail = {"customer_id": customer_id, "campaign_id": campaign_id, "on": today.isoformat(), "at": clock.iso(now)}
            batch.append(BusEvent(source=segmenting.SOURCE, detail_type="ScheduleReached", detail=detail))
            if len(batch) == MAX_ENTRIES:
                publisher.publish(batch)
                published += len(batch)
                batch = []
        if batch:
            publisher.publish(batch)
            published += len(batch)
    return published
