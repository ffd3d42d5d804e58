"""Attribution, funnel rates and holdout uplift, checked against hand-computed figures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nudgeloop.domain.analytics import Touch, difference_interval, funnel, last_touch, uplift, wilson

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_an_order_is_attributed_to_the_last_touch_within_the_window() -> None:
    touches = [
        Touch(T0 - timedelta(days=9), "winback", "voucher", "sent"),
        Touch(T0 - timedelta(days=3), "newsletter", "issue", "sent"),
        Touch(T0 - timedelta(days=2), "winback", "voucher", "clicked"),  # a click is a later touch
        Touch(T0 + timedelta(hours=1), "birthday", "greeting", "sent"),  # after the order: not a cause
    ]
    assert last_touch(T0, touches, 7) == touches[2]
    assert last_touch(T0, touches[:2], 7) == touches[1]
    assert last_touch(T0, touches[:1], 7) is None  # nine days before: outside a 7-day window
    assert last_touch(T0, touches[:1], 10) == touches[0]
    # the window's edge is inclusive
    edge = [Touch(T0 - timedelta(days=7), "a", "s", "sent")]
    assert last_touch(T0, edge, 7) == edge[0]


def test_a_mail_at_the_orders_own_moment_is_not_its_cause() -> None:
    """The welcome an order triggers goes out at the order's moment (the simulated clock) or
    after it: it must not be credited with the order that caused it."""
    caused = [Touch(T0, "welcome", "welcome", "sent")]
    assert last_touch(T0, caused, 7) is None
    before = [Touch(T0 - timedelta(microseconds=1), "welcome", "welcome", "sent")]
    assert last_touch(T0, before, 7) == before[0]


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Table II, example (a): 56/70 versus 48/80, method 10
    d, lo, hi = difference_interval(56, 70, 48, 80)
    assert round(d, 4) == 0.2
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
    # Wilson interval of 81/263 (Newcombe 1998, proportion example): 0.2553 to 0.3662
    assert tuple(round(x, 4) for x in wilson(81, 263)) == (0.2553, 0.3662)


def test_uplift_against_the_holdout_group() -> None:
    # 1,000 treated entrants, 120 ordered within the window; 100 in holdout, 8 ordered
    result = uplift(1000, 120, 100, 8)
    assert (result["treated_rate"], result["control_rate"]) == (0.12, 0.08)
    assert result["uplift_pp"] == 4.0
    lo, hi = result["ci95_pp"]
    assert lo < 0 < hi and result["significant"] is False  # 100 in holdout cannot show 4 points
    big = uplift(10000, 1200, 10000, 800)
    assert big["uplift_pp"] == 4.0 and big["significant"] is True and big["ci95_pp"][0] > 3
    assert uplift(10, 1, 0, 0)["uplift_pp"] is None  # no holdout: no uplift


def test_the_funnel_adds_steps_and_computes_rates() -> None:
    steps = {
        "welcome": {"sent": 100, "delivered": 98, "opened": 49, "clicked": 10, "bounced": 2, "converted": 5},
        "followup": {"sent": 40, "capped": 3, "delivered": 40, "opened": 10, "unsubscribed": 1, "converted": 2},
    }
    revenue = {"welcome": {"EUR": Decimal("150.50")}, "followup": {"EUR": Decimal("40.00")}}
    out = funnel(steps, revenue, {"entered": 110, "holdout": 12})
    assert out["entries"] == {"entered": 110, "holdout": 12, "not_in_audience": 0}
    total = out["totals"]
    assert (total["sent"], total["delivered"], total["converted"], total["capped"]) == (140, 138, 7, 3)
    assert total["revenue"] == {"EUR": "190.50"}
    assert total["conversion_rate"] == 0.05  # 7 / 140
    welcome = out["steps"]["welcome"]
    assert (welcome["open_rate"], welcome["click_rate"], welcome["bounce_rate"]) == (0.5, 0.102, 0.02)
    assert out["steps"]["followup"]["unsubscribe_rate"] == 0.025


def test_rates_of_nothing_are_none() -> None:
    assert funnel({"s": {"sent": 0}}, {}, {})["totals"]["open_rate"] is None
