from datetime import UTC, datetime

from nudgeloop.domain.reputation import Thresholds, Window, verdict, window_keys

T = Thresholds()


def test_marketing_pauses_at_half_of_the_ses_review_levels_once_the_volume_means_something() -> None:
    assert verdict(Window(sent=1000, bounced=24, complained=0), T) is None  # 2.4 %
    assert verdict(Window(sent=1000, bounced=25, complained=0), T) == "bounce_rate"  # 2.5 %
    assert verdict(Window(sent=10000, bounced=0, complained=4), T) is None  # 0.04 %
    assert verdict(Window(sent=10000, bounced=0, complained=5), T) == "complaint_rate"  # 0.05 %
    assert verdict(Window(sent=199, bounced=100, complained=10), T) is None  # below 200 mails: no verdict
    assert verdict(Window(sent=0, bounced=0, complained=0), T) is None


def test_the_window_is_the_last_24_hourly_buckets() -> None:
    keys = window_keys(datetime(2026, 1, 2, 9, 30, tzinfo=UTC), 24)
    assert keys[0] == "2026-01-02T09" and keys[-1] == "2026-01-01T10" and len(set(keys)) == 24
