"""Journey timers: task tokens parked until a moment (or a marketing resume), on the by_due index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from nudgeloop import clock
from nudgeloop.domain.journey_contract import ParkedTimer

from . import keys
from .models import EngineItem


def park_timer(execution: str, token: str, due: datetime, data: dict[str, Any], *, held: bool = False) -> None:
    """Park a journey's task token until ``due`` (or, ``held``, until marketing resumes). An
    execution waits in one Park at a time: an earlier timer of it (a Park that timed out) goes."""
    for stale in EngineItem.query(keys.timer(execution)):
        stale.delete()
    EngineItem(
        pk=keys.timer(execution),
        sk=keys.timer_token(token),
        status="held" if held else "parked",
        due_shard=keys.HELD_SHARD if held else keys.timer_partition(execution),
        due_at=clock.iso(due),
        data={**data, "token": token},
        created_at=clock.iso(clock.now()),
    ).save()


def release_held_timers(now: datetime) -> int:
    """Make every held journey's timer due now (marketing resumed); returns how many."""
    released = 0
    for item in list(EngineItem.by_due.query(keys.HELD_SHARD)):  # the index projects whole items
        item.update(
            actions=[
                EngineItem.due_shard.set(keys.timer_partition(keys.execution_of_timer(item.pk))),
                EngineItem.due_at.set(clock.iso(now)),
                EngineItem.status.set("parked"),
            ]
        )
        released += 1
    return released


def due_timers(until: datetime) -> Iterator[ParkedTimer]:
    """Parked timers due by ``until`` (all shards; held ones wait for a resume instead)."""
    for shard in keys.TIMER_PARTITIONS:
        for item in EngineItem.by_due.query(shard, EngineItem.due_at <= clock.iso(until)):
            yield ParkedTimer(keys.execution_of_timer(item.pk), str((item.data or {}).get("token")), str(item.due_at))


def next_timer_due() -> datetime | None:
    """The earliest parked timer (the local runtime jumps its clock there)."""
    earliest: str | None = None
    for shard in keys.TIMER_PARTITIONS:
        for item in EngineItem.by_due.query(shard, limit=1):
            if item.due_at and (earliest is None or item.due_at < earliest):
                earliest = item.due_at
    return clock.parse_iso(earliest) if earliest else None


def parked_executions() -> set[str]:
    names: set[str] = set()
    for shard in (*keys.TIMER_PARTITIONS, keys.HELD_SHARD):
        for item in EngineItem.by_due.query(shard):
            names.add(keys.execution_of_timer(item.pk))
    return names


def forget_execution(execution: str) -> None:
    """Drop every timer of an execution (the local runtime's restart of a parked journey: the
    token of the execution it replaces is gone)."""
    for item in EngineItem.query(keys.timer(execution)):
        item.delete()


def delete_timer(timer: ParkedTimer) -> None:
    EngineItem(pk=keys.timer(timer.execution), sk=keys.timer_token(timer.token)).delete()
