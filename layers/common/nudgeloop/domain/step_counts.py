"""Customers per step and the day's flows between steps, tallied from the customers table's
change records (pure: no I/O).

Every write that moves a customer, wherever it comes from (a real-time order, the daily run,
a full re-placement), shows up once in the table's stream as an INSERT, MODIFY or REMOVE with
the step before and after. A batch of such changes becomes one :class:`Tally`: deltas of the
per-step counts and the flows of each day, which the counting consumer stores as one item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENTRY_STEP = "prospect"  # where a customer stands before their first move


@dataclass(frozen=True)
class StepChange:
    """One change record of a customer item: what step it held before and after."""

    record_id: str  # the stream record's eventID
    sequence: str  # its sequence number (ordered within a stream shard)
    before: str | None  # None for an INSERT
    after: str | None  # None for a REMOVE
    day: str  # ISO day of the write, by the customer item's own (simulated-clock) timestamp

    @classmethod
    def from_images(
        cls, record_id: str, sequence: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> StepChange:
        stamp = str((new or old or {}).get("updated_at") or (new or old or {}).get("created_at") or "")
        return cls(
            record_id=record_id,
            sequence=sequence,
            before=str(old.get("segment") or ENTRY_STEP) if old is not None else None,
            after=str(new.get("segment") or ENTRY_STEP) if new is not None else None,
            day=stamp[:10],
        )


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)  # step -> change in customers
    flows: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> "from>to" -> moves
    # day -> step -> change in customers that day: a day's snapshot taken later is the counts
    # then less the changes of the days after it
    day_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, change: StepChange) -> None:
        if change.before == change.after:
            return  # a profile, consent or review-date write: nobody moved
        on_day = self.day_counts.setdefault(change.day, {}) if change.day else {}
        if change.before is not None:
            self.counts[change.before] = self.counts.get(change.before, 0) - 1
            on_day[change.before] = on_day.get(change.before, 0) - 1
        if change.after is not None:
            self.counts[change.after] = self.counts.get(change.after, 0) + 1
            on_day[change.after] = on_day.get(change.after, 0) + 1
        # A new customer placed straight onto a later step (their first event was an order)
        # moved from the entry step, as the SegmentMigrated event said.
        source = change.before if change.before is not None else ENTRY_STEP
        if change.after is not None and source != change.after and change.day:
            day = self.flows.setdefault(change.day, {})
            key = f"{source}>{change.after}"
            day[key] = day.get(key, 0) + 1

    def merge(self, other: Mapping[str, Any]) -> None:
        """Add a stored tally (``{"counts": ..., "flows": ...}``) to this one."""
        for step, n in (other.get("counts") or {}).items():
            self.counts[step] = self.counts.get(step, 0) + int(n)
        for name, per_day in (("flows", self.flows), ("day_counts", self.day_counts)):
            for day, values in (other.get(name) or {}).items():
                held = per_day.setdefault(day, {})
                for key, n in values.items():
                    held[key] = held.get(key, 0) + int(n)

    def __bool__(self) -> bool:
        return any(self.counts.values()) or any(self.flows.values())

    def as_data(self) -> dict[str, Any]:
        day_counts = {d: {k: v for k, v in c.items() if v} for d, c in self.day_counts.items()}
        return {
            "counts": {k: v for k, v in self.counts.items() if v},
            "flows": self.flows,
            "day_counts": {d: c for d, c in day_counts.items() if c},
        }


def tally(changes: Iterable[StepChange]) -> Tally:
    out = Tally()
    for change in changes:
        out.add(change)
    return out
