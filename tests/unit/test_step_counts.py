"""Tallying customers per step and flows from change records of the customers table."""

from __future__ import annotations

from nudgeloop.domain.step_counts import StepChange, tally

DAY = "2026-03-02"


def change(before: str | None, after: str | None, n: int = 1) -> StepChange:
    return StepChange(record_id=f"r{n}", sequence=str(n), before=before, after=after, day=DAY)


def test_a_new_customer_counts_on_their_step_and_moves_from_the_entry_step_only_when_placed_beyond_it() -> None:
    assert tally([change(None, "prospect")]).as_data() == {
        "counts": {"prospect": 1},
        "flows": {},
        "day_counts": {DAY: {"prospect": 1}},
    }
    assert tally([change(None, "new")]).as_data() == {
        "counts": {"new": 1},
        "flows": {DAY: {"prospect>new": 1}},
        "day_counts": {DAY: {"new": 1}},
    }


def test_a_move_is_one_out_one_in_and_one_flow_and_writes_that_move_nobody_count_nothing() -> None:
    result = tally([change("new", "active", 1), change("active", "active", 2), change("at_risk", "active", 3)])
    assert result.as_data() == {
        "counts": {"new": -1, "active": 2, "at_risk": -1},
        "flows": {DAY: {"new>active": 1, "at_risk>active": 1}},
        "day_counts": {DAY: {"new": -1, "active": 2, "at_risk": -1}},
    }


def test_a_removed_customer_leaves_their_step_without_a_flow() -> None:
    assert tally([change("vip", None)]).as_data() == {"counts": {"vip": -1}, "flows": {}, "day_counts": {DAY: {"vip": -1}}}


def test_images_give_the_steps_and_the_day_of_the_write() -> None:
    made = StepChange.from_images("e1", "7", {"segment": "new"}, {"segment": "active", "updated_at": "2026-03-02T03:00:00Z"})
    assert (made.before, made.after, made.day) == ("new", "active", DAY)
    inserted = StepChange.from_images("e2", "8", None, {"created_at": "2026-03-01T10:00:00Z"})
    assert (inserted.before, inserted.after, inserted.day) == (None, "prospect", "2026-03-01")


def test_stored_tallies_add_up() -> None:
    total = tally([change(None, "new")])
    total.merge({"counts": {"new": 2, "vip": 1}, "flows": {DAY: {"prospect>new": 2}, "2026-03-03": {"active>vip": 1}}})
    total.merge({"day_counts": {"2026-03-03": {"active": -1, "vip": 1}}})
    assert total.as_data() == {
        "counts": {"new": 3, "vip": 1},
        "flows": {DAY: {"prospect>new": 3}, "2026-03-03": {"active>vip": 1}},
        "day_counts": {DAY: {"new": 1}, "2026-03-03": {"active": -1, "vip": 1}},  # a tally stored before day counts: none
    }
