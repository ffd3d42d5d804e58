from datetime import UTC, date, datetime, timedelta

from nudgeloop.domain.dates import ALWAYS, Booking, DateFacts, DateRule, next_review, occurrences, yearly


def run(day: date, hour: int = 3) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def fire_days(facts: DateFacts, rules, start: date, days: int, hour: int = 3) -> list[tuple[str, date]]:
    """Run daily from ``start`` for ``days`` days; what fires, in order."""
    fired = []
    for i in range(days):
        prev, now = run(start + timedelta(days=i - 1), hour), run(start + timedelta(days=i), hour)
        fired += [(o.rule.kind, o.on) for o in occurrences(facts, rules, prev, now)]
    return fired


def test_29_february_falls_on_28_february_in_non_leap_years() -> None:
    assert yearly(2, 29, 2027) == date(2027, 2, 28)
    assert yearly(2, 29, 2028) == date(2028, 2, 29)
    facts = DateFacts(birthday="1992-02-29")
    assert fire_days(facts, ALWAYS, date(2027, 2, 20), 20) == [("birthday", date(2027, 2, 28))]
    assert fire_days(facts, ALWAYS, date(2028, 2, 20), 20) == [("birthday", date(2028, 2, 29))]


def test_birthday_fires_once_on_the_local_date_whatever_the_run_hour() -> None:
    for tz in ("Pacific/Auckland", "America/Los_Angeles", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        for hour in (0, 3, 12, 23):
            fired = fire_days(DateFacts(timezone=tz, birthday="--06-15"), ALWAYS, date(2026, 6, 10), 10, hour)
            assert fired == [("birthday", date(2026, 6, 15))], (tz, hour)


def test_dst_changes_neither_skip_nor_repeat_a_local_date() -> None:
    # 27-30 March 2026: Europe changes clocks; a run at 23:30 UTC sits next to local midnight.
    facts = DateFacts(timezone="Europe/London", birthday="--03-29")
    fired = []
    for i in range(6):
        prev = datetime(2026, 3, 26, 23, 30, tzinfo=UTC) + timedelta(days=i)
        fired += [o.on for o in occurrences(facts, ALWAYS, prev, prev + timedelta(days=1))]
    assert fired == [date(2026, 3, 29)]


def test_purchase_offsets_and_anniversary() -> None:
    facts = DateFacts(first_order=date(2025, 5, 1), last_order=date(2026, 5, 10))
    rules = (*ALWAYS, DateRule("days_after_first_purchase", 30), DateRule("days_after_last_purchase", 60))
    assert fire_days(facts, rules, date(2025, 5, 1), 40) == [("days_after_first_purchase", date(2025, 5, 31))]
    assert ("first_purchase_anniversary", date(2026, 5, 1)) in fire_days(facts, rules, date(2026, 4, 25), 10)
    assert ("first_purchase_anniversary", date(2025, 5, 1)) not in fire_days(facts, rules, date(2025, 4, 25), 10)
    assert fire_days(facts, rules, date(2026, 7, 5), 10) == [("days_after_last_purchase", date(2026, 7, 9))]


def test_service_before_and_after_in_local_time() -> None:
    booking = Booking("b1", "inspection", datetime(2026, 9, 10, 7, tzinfo=UTC), datetime(2026, 9, 10, 9, tzinfo=UTC))
    facts = DateFacts(timezone="America/New_York", bookings=(booking,))
    rules = (DateRule("days_before_service", 2), DateRule("days_after_service", 7))
    assert fire_days(facts, rules, date(2026, 9, 1), 30) == [
        ("days_before_service", date(2026, 9, 8)),
        ("days_after_service", date(2026, 9, 17)),
    ]


def test_next_review_points_at_the_day_before_the_local_date() -> None:
    facts = DateFacts(timezone="Pacific/Auckland", birthday="--06-15")
    assert next_review(facts, ALWAYS, run(date(2026, 6, 1)), date(2026, 6, 2)) == date(2026, 6, 14)
    assert next_review(facts, ALWAYS, run(date(2026, 6, 14)), date(2026, 6, 15)) == date(2026, 6, 15)
    assert next_review(DateFacts(), ALWAYS, run(date(2026, 6, 1)), date(2026, 6, 2)) is None


def test_timezone_names_are_checked_before_any_file_is_opened() -> None:
    from nudgeloop.domain.dates import valid_timezone, zone

    assert valid_timezone("Europe/Berlin") and valid_timezone("UTC") and valid_timezone("America/Argentina/Buenos_Aires")
    for bad in ("0" * 600, "../../etc/passwd", "Mars/Olympus", "Europe/", ""):
        assert not valid_timezone(bad)
    assert zone("0" * 600).key == "UTC"
