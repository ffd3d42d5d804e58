import json
from datetime import date, timedelta

import pytest

from nudgeloop.domain.staircase import Placement, Staircase, place

TODAY = date(2026, 6, 1)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_no_orders_is_prospect_with_nothing_to_review() -> None:
    assert place([], TODAY).step == "prospect"
    assert place([], TODAY).review_on is None


@pytest.mark.parametrize(("first_age", "segment"), [(0, "new"), (90, "new"), (91, "active")])
def test_new_boundary_at_day_90(first_age: int, segment: str) -> None:
    assert place([ago(first_age)], TODAY).step == segment


@pytest.mark.parametrize(("last_age", "segment"), [(180, "active"), (181, "at_risk"), (365, "at_risk"), (366, "inactive")])
def test_active_at_risk_inactive_boundaries(last_age: int, segment: str) -> None:
    assert place([ago(400), ago(last_age)], TODAY).step == segment


def test_fourth_order_within_365_days_makes_vip() -> None:
    three = [ago(300), ago(200), ago(100)]
    assert place(three, TODAY).step == "active"
    assert place([*three, ago(1)], TODAY).step == "vip"
    assert place([ago(366), ago(200), ago(100), ago(1)], TODAY).step == "active"


def test_vip_takes_precedence_over_new() -> None:
    assert place([ago(3), ago(2), ago(1), ago(0)], TODAY).step == "vip"


def test_review_date_is_the_first_day_the_segment_changes_by_itself() -> None:
    placement = place([ago(10)], TODAY)
    assert placement.step == "new"
    assert placement.review_on == ago(10) + timedelta(days=91)
    assert place([ago(10)], placement.review_on).step == "active"
    assert place([ago(10)], placement.review_on - timedelta(days=1)).step == "new"


def test_vip_review_when_fourth_latest_order_ages_out() -> None:
    orders = [ago(360), ago(50), ago(40), ago(30)]
    placement = place(orders, TODAY)
    assert placement.step == "vip"
    assert placement.review_on == ago(360) + timedelta(days=366)


def test_inactive_never_changes_by_itself() -> None:
    assert place([ago(500)], TODAY).review_on is None


def test_future_dated_orders_do_not_count_yet() -> None:
    assert place([TODAY + timedelta(days=1)], TODAY).step == "prospect"


def test_staircase_thresholds_are_configurable_and_validated() -> None:
    stairs = Staircase.from_json('{"new_days": 30, "version": "shop-2"}')
    assert place([ago(31)], TODAY, stairs).step == "active"
    with pytest.raises(ValueError, match="unknown"):
        Staircase.from_json('{"nwe_days": 30}')
    with pytest.raises(ValueError, match="new_days < active_days"):
        Staircase.from_json('{"new_days": 200}')


def test_extra_steps_from_a_definition() -> None:
    from decimal import Decimal

    definition = {
        "version": "shop-3",
        "steps": [
            {"name": "prospect", "when": {"no_orders": True}},
            {"name": "big_spender", "when": {"revenue_within": {"amount": "500", "days": 365}}},
            {"name": "lapsed", "when": {"last_order_older_than_days": 60, "orders_within": {"count": 2, "days": 730}}},
            {"name": "customer"},
        ],
    }
    stairs = Staircase.from_json(json.dumps(definition))
    assert stairs.names() == ["prospect", "big_spender", "lapsed", "customer"]
    assert place([(ago(10), Decimal("600"))], TODAY, stairs).step == "big_spender"
    assert place([(ago(100), Decimal("20")), (ago(61), Decimal("20"))], TODAY, stairs).step == "lapsed"
    fresh = place([(ago(100), Decimal("20")), (ago(10), Decimal("20"))], TODAY, stairs)
    assert fresh == Placement("customer", ago(10) + timedelta(days=61))  # lapses by itself on day 61


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"steps": [{"name": "a", "when": {"no_orders": True}}]}, "last step"),
        ({"steps": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"steps": [{"name": "Bad Name"}]}, "steps.0.name"),
        ({"steps": [{"name": "a", "when": {"orders_within": {"count": 0, "days": 3}}}, {"name": "b"}]}, "count"),
        ({"steps": [{"name": "a", "when": {"sometimes": True}}, {"name": "b"}]}, "sometimes"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(definition: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Staircase.from_json(json.dumps(definition))
