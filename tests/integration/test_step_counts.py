"""Customers per step and daily flows come from the customers table's stream, exactly once:
a retried batch is not counted again, and folding into the counters keeps the totals."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.conftest import order, post_events, upsert

DAY = "2026-01-01"


def record(n: int, name: str, customer: str, before: str | None, after: str | None) -> dict[str, Any]:
    def image(step: str | None) -> dict[str, Any] | None:
        if step is None:
            return None
        return {"customer_id": {"S": customer}, "segment": {"S": step}, "updated_at": {"S": f"{DAY}T09:00:00Z"}}

    body: dict[str, Any] = {
        "Keys": {"customer_id": {"S": customer}},
        "SequenceNumber": str(n * 100),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if image(before) is not None:
        body["OldImage"] = image(before)
    if image(after) is not None:
        body["NewImage"] = image(after)
    return {"eventID": f"ev{n}", "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": body}


BATCH = [
    record(1, "INSERT", "c1", None, "prospect"),
    record(2, "MODIFY", "c1", "prospect", "new"),
    record(3, "INSERT", "c2", None, "new"),
    record(4, "MODIFY", "c2", "new", "new"),  # a profile write: nobody moved
    record(5, "REMOVE", "c2", "new", None),
]


def counts() -> dict[str, int]:
    from nudgeloop.dal import step_tallies

    return {k: v for k, v in step_tallies.segment_counts().items() if v}


def test_a_retried_batch_is_counted_once_also_when_it_comes_back_longer(stack) -> None:
    from nudgeloop.dal import step_tallies

    stack.call("segment_counts", {"Records": BATCH[:2]})
    assert counts() == {"new": 1}
    stack.call("segment_counts", {"Records": BATCH[:2]})  # the same batch again (a retry)
    assert counts() == {"new": 1}
    stack.call("segment_counts", {"Records": BATCH[:4]})  # a retry from the same record, longer
    assert counts() == {"new": 2}
    assert step_tallies.segment_flows(date(2026, 1, 1)) == {"prospect>new": 2}
    stack.call("segment_counts", {"Records": BATCH[4:]})
    assert counts() == {"new": 1}


def test_folding_moves_tallies_into_the_counters_and_keeps_them_as_markers(stack) -> None:
    from nudgeloop.dal import step_tallies

    for n in range(len(BATCH)):  # one record per batch: five tallies
        stack.call("segment_counts", {"Records": BATCH[n : n + 1]})
    before = (counts(), step_tallies.segment_flows(date(2026, 1, 1)))
    with stack.aws_lock:
        assert step_tallies.fold_step_tallies(limit=4) == 4  # several small transactions
        assert step_tallies.fold_step_tallies() == 0
    assert (counts(), step_tallies.segment_flows(date(2026, 1, 1))) == before == ({"new": 1}, {"prospect>new": 2})
    stack.call("segment_counts", {"Records": BATCH[1:3]})  # a late retry of folded batches
    assert counts() == {"new": 1}


def test_a_failing_count_batch_is_retried_and_counted_once(stack, monkeypatch) -> None:
    from nudgeloop.dal import step_tallies

    real = step_tallies.save_step_tally
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("throttled")
        return real(*args, **kwargs)

    monkeypatch.setattr(step_tallies, "save_step_tally", flaky)
    post_events(stack, [upsert("a"), upsert("b"), order("a", "1")])
    stack.settle()
    assert calls["n"] >= 2
    assert counts() == {"prospect": 1, "new": 1}
    assert any(f["function"] == "segment_counts" for f in stack.failures)
    stack.advance(timedelta(days=1))  # the daily run folds; the totals stay
    assert counts() == {"prospect": 1, "new": 1}
    assert step_tallies.segment_days(date(2026, 1, 1), date(2026, 1, 1)) == {DAY: {"prospect": 1, "new": 1}}


def test_a_days_snapshot_counts_that_day_only_not_the_hours_before_the_daily_run(stack) -> None:
    """The daily run takes yesterday's snapshot at 03:00: a customer who arrived and moved after
    midnight belongs to today's, not to yesterday's (the changes since are taken back out)."""
    from nudgeloop.dal import step_tallies

    post_events(stack, [upsert("a"), upsert("b"), order("a", "1")])  # 1 January: a new, b prospect
    stack.settle()
    stack.advance(timedelta(hours=16))  # 2 January, 01:00: before the daily run
    post_events(stack, [upsert("c", at="2026-01-02T00:30:00Z"), order("b", "2", at="2026-01-02T00:40:00Z")])
    stack.settle()
    stack.advance(timedelta(hours=3))  # the 03:00 run: snapshot of 1 January
    assert step_tallies.segment_days(date(2026, 1, 1), date(2026, 1, 1)) == {DAY: {"prospect": 1, "new": 1}}
    assert counts() == {"prospect": 1, "new": 2}  # now: c arrived, b moved
    stack.advance(timedelta(days=1))
    assert step_tallies.segment_days(date(2026, 1, 2), date(2026, 1, 2)) == {"2026-01-02": {"prospect": 1, "new": 2}}
