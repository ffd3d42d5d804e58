"""Send windows in the customer's time: weekdays, hours, holidays, Monday mornings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nudgeloop.domain.windows import SendWindow, is_holiday

OFFICE = SendWindow(weekdays=["mon", "tue", "wed", "thu", "fri"], from_hour=9, to_hour=18)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_inside_the_window_is_now_and_after_hours_is_the_next_morning() -> None:
    assert OFFICE.next_slot(utc(2026, 3, 4, 10, 30), "UTC", None) == utc(2026, 3, 4, 10, 30)
    assert OFFICE.next_slot(utc(2026, 3, 4, 18, 0), "UTC", None) == utc(2026, 3, 5, 9)  # to_hour is exclusive
    assert OFFICE.next_slot(utc(2026, 3, 4, 6, 0), "UTC", None) == utc(2026, 3, 4, 9)


def test_the_weekend_moves_to_monday() -> None:
    assert OFFICE.next_slot(utc(2026, 3, 6, 19), "UTC", None) == utc(2026, 3, 9, 9)  # Friday evening


def test_the_customers_timezone_decides() -> None:
    now = utc(2026, 3, 4, 7, 0)  # 08:00 in Berlin, 16:00 in Tokyo, 02:00 in New York
    assert OFFICE.next_slot(now, "Europe/Berlin", None) == utc(2026, 3, 4, 8)  # 09:00 Berlin
    assert OFFICE.next_slot(now, "Asia/Tokyo", None) == now
    assert OFFICE.next_slot(now, "America/New_York", None) == utc(2026, 3, 4, 14)  # 09:00 New York (EST)
    assert OFFICE.next_slot(now, "Not/AZone", None) == utc(2026, 3, 4, 9)  # unknown: the default (UTC)


def test_public_holidays_of_the_customers_country_are_skipped() -> None:
    # Easter Monday 2026-04-06 is a holiday in Germany, not in the United States
    assert is_holiday("DE", datetime(2026, 4, 6).date()) and not is_holiday("US", datetime(2026, 4, 6).date())
    assert OFFICE.next_slot(utc(2026, 4, 6, 10), "UTC", "DE") == utc(2026, 4, 7, 9)
    assert OFFICE.next_slot(utc(2026, 4, 6, 10), "UTC", "US") == utc(2026, 4, 6, 10)
    after = OFFICE.model_copy(update={"skip_day_after_holiday": True})
    assert after.next_slot(utc(2026, 4, 6, 10), "UTC", "DE") == utc(2026, 4, 8, 9)
    assert OFFICE.next_slot(utc(2026, 12, 24, 20), "Europe/Berlin", "DE") == utc(2026, 12, 28, 8)  # Christmas, weekend


def test_no_monday_mornings() -> None:
    later = OFFICE.model_copy(update={"no_monday_morning": True})
    assert later.next_slot(utc(2026, 3, 9, 9, 30), "UTC", None) == utc(2026, 3, 9, 12)
    assert later.next_slot(utc(2026, 3, 10, 9, 30), "UTC", None) == utc(2026, 3, 10, 9, 30)


def test_windows_that_allow_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="to_hour"):
        SendWindow(from_hour=18, to_hour=9)
