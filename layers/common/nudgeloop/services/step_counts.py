"""Counting customers per step and the day's flows from the customers table's stream.

Exactly once per change record, with one write per stream batch: the batch's tally is stored
as one item keyed by the batch's first record and holding the sequence number it counted
through. Lambda retries a failed stream batch from the same first record (bisecting is off for
this consumer), so a retry finds that item and skips what it covered. The daily run folds the
tallies into the counters (``step_tallies.fold_step_tallies``).
"""

from __future__ import annotations

from collections.abc import Sequence

from nudgeloop.dal import step_tallies
from nudgeloop.domain.step_counts import StepChange, tally


def record(changes: Sequence[StepChange]) -> int:
    """Store the tally of a batch of change records; returns how many records it newly counted."""
    remaining = list(changes)
    counted = 0
    while remaining:
        held = step_tallies.step_tally(remaining[0].record_id)
        if held is not None:  # a retry: this batch (or its beginning) was counted already
            through = int(held["through"])
            remaining = [c for c in remaining if int(c.sequence) > through]
            continue
        found = tally(remaining)
        if not found:
            break  # nobody moved (profile, consent or review-date writes): nothing to store
        if step_tallies.save_step_tally(remaining[0].record_id, remaining[-1].sequence, found.as_data()):
            counted += len(remaining)
            remaining = []
    return counted
