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


def test_the_ses_vocabulary_is_one_table_every_place_reads() -> None:
    from nudgeloop.domain import ses_events
    from nudgeloop.domain.events import INTERNAL_TYPES, POINTS_GRANTED, VOUCHER_REDEEMED
    from nudgeloop.resources import catalog

    rule = next(r for r in catalog().rules if "detail-type" in r.pattern and "Email Bounced" in r.pattern["detail-type"])
    assert rule.pattern["detail-type"] == list(ses_events.DETAIL_TYPES)
    # the feedback types, the voucher redemptions and the points granted: what only Nudgeloop writes
    assert {f"email.{t.kind}" for t in ses_events.VOCABULARY if t.kind} == INTERNAL_TYPES - {VOUCHER_REDEEMED, POINTS_GRANTED}
    bounce = ses_events.by_event_type("Bounce")
    assert bounce is not None and (bounce.detail_type, bounce.detail_key, bounce.kind) == ("Email Bounced", "bounce", "bounced")
    assert ses_events.by_event_type("RenderingFailure") == ses_events.by_event_type("Rendering Failure")
    assert ses_events.by_event_type("Subscription") is not None and ses_events.by_event_type("Subscription").kind is None
    assert ses_events.by_event_type("Nonsense") is None
    assert len({t.event_type for t in ses_events.VOCABULARY}) == len({t.detail_type for t in ses_events.VOCABULARY}) == 10
