"""Customers per step and the flows between steps (engine table).

The counting consumer of the customers table's stream stores one tally item per stream batch
(keyed by the batch's first record, holding how far it counted). The daily run folds open
tallies into the counters and the day's flows in transactions that also close them; closed
tallies stay a week as markers, so a retried batch is never counted twice."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.domain.step_counts import Tally

from . import keys
from .models import EngineItem
from .writes import put_once, transaction

TALLY_KEEP = timedelta(days=7)


def step_tally(record_id: str) -> dict[str, Any] | None:
    """The tally stored for the stream batch that began with this record, if any."""
    try:
        item = EngineItem.get(keys.step_tally(record_id), record_id, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return dict(item.data or {})


def save_step_tally(record_id: str, through: str, data: dict[str, Any]) -> bool:
    """Store a batch's tally once (one write); False when that batch was stored already."""
    item = EngineItem(
        pk=keys.step_tally(record_id),
        sk=record_id,
        status="open",
        data={**data, "through": through},
        created_at=clock.iso(clock.now()),
    )
    return put_once(item, EngineItem.sk)


def _open_tallies() -> list[EngineItem]:
    return [
        item
        for partition in keys.step_tally_partitions()
        for item in EngineItem.query(partition, filter_condition=EngineItem.status == "open")
    ]


def fold_step_tallies(limit: int = 100) -> int:
    """Add open tallies to the counters and close them, atomically, at most ``limit`` items a
    transaction; returns how many tallies were folded."""
    folded = 0
    pending = _open_tallies()
    expires = clock.now() + TALLY_KEEP
    while pending:
        chunk: list[EngineItem] = []
        total = Tally()
        for item in pending:
            trial = Tally()
            trial.merge(total.as_data())
            trial.merge(item.data or {})
            counters = len(trial.counts) + sum(len(f) for f in (*trial.flows.values(), *trial.day_counts.values()))
            if chunk and counters + len(chunk) + 1 > limit:
                break
            chunk.append(item)
            total = trial
        pending = pending[len(chunk) :]
        with transaction() as tx:
            for step, n in total.counts.items():
                if n:
                    tx.update(EngineItem(pk=keys.STEP_COUNT, sk=step), actions=[EngineItem.counter.add(n)])
            for day, flows in total.flows.items():
                for key, n in flows.items():
                    tx.update(EngineItem(pk=keys.step_flow(day), sk=key), actions=[EngineItem.counter.add(n)])
            for day, changes in total.day_counts.items():
                for step, n in changes.items():
                    if n:
                        tx.update(
                            EngineItem(pk=keys.step_delta(day), sk=step),
                            actions=[EngineItem.counter.add(n), EngineItem.expires_at.set(expires)],
                        )
            for item in chunk:
                tx.update(
                    item,
                    actions=[EngineItem.status.set("folded"), EngineItem.expires_at.set(expires)],
                    condition=EngineItem.status == "open",
                )
        folded += len(chunk)
    return folded


def _open_tally() -> Tally:
    total = Tally()
    for item in _open_tallies():
        total.merge(item.data or {})
    return total


def segment_counts(open_tally: Tally | None = None) -> dict[str, int]:
    """Customers per step now: the folded counters plus the tallies not folded yet (``open_tally``
    when the caller has read them already)."""
    counts = dict((open_tally or _open_tally()).counts)
    for item in EngineItem.query(keys.STEP_COUNT):
        counts[item.sk] = counts.get(item.sk, 0) + int(item.counter or 0)
    return counts


def segment_counts_at_end_of(day: date, today: date) -> dict[str, int]:
    """Customers per step at the end of ``day``: the counts now less every change since (the
    days after it, through ``today``), folded or not. A snapshot taken the next morning then
    describes its own day, not the hours after midnight too."""
    open_tally = _open_tally()  # read once: the counts now and the changes since both need it
    counts = segment_counts(open_tally)
    open_days = open_tally.day_counts
    later = day + timedelta(days=1)
    while later <= today:
        changes = dict(open_days.get(later.isoformat(), {}))
        for item in EngineItem.query(keys.step_delta(later.isoformat())):
            changes[item.sk] = changes.get(item.sk, 0) + int(item.counter or 0)
        for step, n in changes.items():
            counts[step] = counts.get(step, 0) - n
        later += timedelta(days=1)
    return counts


def segment_flows(day: date, include_open: bool = True) -> dict[str, int]:
    """Migrations between steps on ``day``: ``{"new>active": 3, ...}``; without the open
    tallies for a day the daily run has folded already (one Query instead of nine)."""
    flows = dict(_open_tally().flows.get(day.isoformat(), {})) if include_open else {}
    for item in EngineItem.query(keys.step_flow(day.isoformat())):
        flows[item.sk] = flows.get(item.sk, 0) + int(item.counter or 0)
    return flows


def save_segment_day(day: date, counts: dict[str, int]) -> bool:
    """Keep the day's snapshot of customers per step; the first one taken stands (a re-run of
    the daily run later in the day does not overwrite it with later counts)."""
    item = EngineItem(pk=keys.STEP_DAY, sk=day.isoformat(), data=counts, created_at=clock.iso(clock.now()))
    return put_once(item, EngineItem.sk)


def segment_days(first: date, last: date) -> dict[str, dict[str, int]]:
    """The daily snapshots of customers per step, ``{"2026-01-02": {"new": 4, ...}}``."""
    return {
        item.sk: dict(item.data or {})
        for item in EngineItem.query(keys.STEP_DAY, EngineItem.sk.between(first.isoformat(), last.isoformat()))
    }
