from datetime import UTC, datetime, timedelta

import pytest

from nudgeloop import clock
from nudgeloop_cli.local.runtime import LocalError, Schedule


def test_simulated_clock_moves_only_forward() -> None:
    sim = clock.SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    previous = clock.use(sim)
    try:
        assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
        sim.advance(timedelta(days=2))
        assert clock.today().isoformat() == "2026-01-03"
        with pytest.raises(ValueError, match="backwards"):
            sim.set(datetime(2026, 1, 2, tzinfo=UTC))
    finally:
        clock.use(previous)


def test_iso_round_trip() -> None:
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert clock.iso(moment) == "2026-05-01T12:30:00.000Z"
    assert clock.parse_iso(clock.iso(moment)) == moment
    assert clock.parse_iso("2026-05-01T14:30:00+02:00") == moment
    with pytest.raises(ValueError, match="offset"):
        clock.parse_iso("2026-05-01T12:30:00")


def test_instants_have_one_text_form_whose_order_is_time_order() -> None:
    from datetime import timedelta

    whole = datetime(2026, 5, 1, 23, 45, tzinfo=UTC)
    half = whole + timedelta(milliseconds=500)
    assert clock.iso(whole) < clock.iso(half)  # isoformat() gave "...:00+00:00" > "...:00.500000+00:00"
    assert clock.iso(whole + timedelta(microseconds=999)) == clock.iso(whole)  # below a millisecond: simultaneous
    assert len({len(clock.iso(whole + timedelta(microseconds=us))) for us in (0, 1, 1000, 999_999)}) == 1


def test_daily_cron_fires_once_a_day_at_its_time() -> None:
    daily = Schedule("segment_daily", "cron(0 3 * * ? *)")
    assert daily.next_after(datetime(2026, 1, 1, 2, 59, tzinfo=UTC)) == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert daily.next_after(datetime(2026, 1, 1, 3, 0, tzinfo=UTC)) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)


def test_weekly_cron_fires_on_its_weekday() -> None:
    sunday = Schedule("clv", "cron(0 4 ? * SUN *)")
    assert sunday.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 4, 4, 0, tzinfo=UTC)  # a Thursday
    assert sunday.next_after(datetime(2026, 1, 4, 4, 0, tzinfo=UTC)) == datetime(2026, 1, 11, 4, 0, tzinfo=UTC)


def test_rate_fires_on_its_boundaries() -> None:
    minute = Schedule("journey_wake", "rate(1 minute)")
    assert minute.next_after(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert Schedule("x", "rate(2 hours)").next_after(datetime(2026, 1, 1, 1, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, 2, 0, tzinfo=UTC
    )
    with pytest.raises(LocalError):
        Schedule("x", "cron(0 3 1 * ? *)").next_after(datetime(2026, 1, 1, tzinfo=UTC))


def test_the_daily_run_schedule_is_configurable(monkeypatch) -> None:
    from nudgeloop.resources import catalog

    assert catalog().function("segment_daily").schedule == "cron(0 3 * * ? *)"
    assert catalog(segment_schedule="cron(30 1 * * ? *)").function("segment_daily").schedule == "cron(30 1 * * ? *)"
    monkeypatch.setenv("NUDGELOOP_SEGMENT_SCHEDULE", "cron(30 1 * * ? *)")
    from nudgeloop_cli.local.runtime import LocalStack

    local = LocalStack()
    assert next(s for s in local.schedules if s.function_key == "segment_daily").next_after(
        datetime(2026, 1, 1, tzinfo=UTC)
    ) == datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
