from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nudgeloop.domain.campaigns import Audience, Campaign
from nudgeloop.domain.journey_contract import JourneyState
from nudgeloop.domain.journeys import Facts, in_holdout, next_action
from nudgeloop.services.campaign_store import InvalidCampaign, parse

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def welcome() -> Campaign:
    return parse((ROOT / "campaigns/examples/welcome.yaml").read_text())


def facts(**over) -> Facts:
    return Facts(**{"step": "new", "ordered_since_entry": False, "consent_ok": True, "has_email": True, **over})


def test_welcome_journey_sends_waits_then_follows_up(welcome: Campaign) -> None:
    state = JourneyState(cursor=0)
    first = next_action(welcome, state, facts(), NOW)
    assert (first.action, first.step_id, first.template) == ("send", "welcome", "welcome")
    wait = next_action(welcome, first, facts(), NOW)
    assert wait.action == "wait"
    assert datetime.fromisoformat(wait.wait_until) == NOW + timedelta(days=3)
    early = next_action(welcome, wait, facts(), NOW + timedelta(days=1))
    assert early.action == "wait" and early.wait_until == wait.wait_until
    follow = next_action(welcome, wait, facts(), NOW + timedelta(days=3))
    assert (follow.action, follow.step_id) == ("send", "followup")
    assert next_action(welcome, follow, facts(), NOW + timedelta(days=3)).action == "end"


def test_branch_ends_the_journey_when_they_ordered_again(welcome: Campaign) -> None:
    wait = next_action(welcome, next_action(welcome, JourneyState(cursor=0), facts(), NOW), facts(), NOW)
    done = next_action(welcome, wait, facts(ordered_since_entry=True), NOW + timedelta(days=3))
    assert (done.action, done.reason) == ("end", "branch:ordered-again")


def test_marketing_journey_stops_when_consent_is_gone(welcome: Campaign) -> None:
    assert next_action(welcome, JourneyState(cursor=0), facts(consent_ok=False), NOW).reason == "no_consent"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: Bad Id\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: exit}]", "id"),
        ("id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: []", "steps"),
        (
            "id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\n"
            "steps: [{id: a, type: branch, if: {}, then: nowhere, else: end}]",
            "unknown target",
        ),
        ("id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: wait}]", "days or hours"),
        ("id: [unclosed", "YAML"),
        (
            "id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\n"
            "steps: [{id: a, type: send, template: t, voucher_prefix: SUN, voucher_pool: summer}]",
            "exclude each other",
        ),
        (
            "id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\n"
            "steps: [{id: a, type: send, template: t, voucher_pool: Summer_2026}]",
            "voucher_pool",
        ),
    ],
)
def test_invalid_campaigns_are_rejected_with_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidCampaign, match=message):
        parse(text)


def test_the_audience_is_checked_at_entry_only(welcome: Campaign) -> None:
    picky = welcome.model_copy(update={"audience": Audience(segment_in=["new"], attributes={"tier": "gold"})})
    state = JourneyState(cursor=0, customer_id="c1")
    assert next_action(picky, state, facts(attributes={"tier": "silver"}), NOW).reason == "not_in_audience"
    assert next_action(picky, state, facts(step="vip", attributes={"tier": "gold"}), NOW).reason == "not_in_audience"
    first = next_action(picky, state, facts(attributes={"tier": "gold"}), NOW)
    assert (first.action, first.entry) == ("send", "entered")
    # later decisions do not re-check it: a customer who moves on stays in their journey
    assert next_action(picky, first, facts(step="vip"), NOW).action == "wait"


def test_the_holdout_is_a_stable_share_of_entrants_who_get_nothing(welcome: Campaign) -> None:
    ids = [f"c{i}" for i in range(10_000)]
    held = [c for c in ids if in_holdout("welcome", c, 10)]
    assert 900 <= len(held) <= 1100
    assert held == [c for c in ids if in_holdout("welcome", c, 10)]  # the same every time
    assert not any(in_holdout("welcome", c, 0) for c in ids[:100])
    assert set(held[:50]) != {c for c in ids if in_holdout("other", c, 10)}  # per campaign
    control = welcome.model_copy(update={"holdout_percent": 10})
    out = next_action(control, JourneyState(cursor=0, customer_id=held[0]), facts(), NOW)
    assert (out.action, out.reason, out.entry) == ("end", "holdout", "holdout")
    free = next(c for c in ids if c not in held)
    assert next_action(control, JourneyState(cursor=0, customer_id=free), facts(), NOW).action == "send"


def test_a_send_outside_the_window_waits_for_the_next_slot_and_is_never_dropped(welcome: Campaign) -> None:
    from nudgeloop.domain.windows import SendWindow

    office = SendWindow(weekdays=["mon", "tue", "wed", "thu", "fri"], from_hour=9, to_hour=18)
    saturday = datetime(2026, 3, 7, 10, tzinfo=UTC)
    state = JourneyState(cursor=0, customer_id="c1")
    held = next_action(welcome, state, facts(timezone="UTC"), saturday, office)
    assert (held.action, held.wait_until, held.cursor) == ("wait", "2026-03-09T09:00:00+00:00", 0)
    monday = datetime(2026, 3, 9, 9, tzinfo=UTC)
    sent = next_action(welcome, held, facts(timezone="UTC"), monday, office)
    assert (sent.action, sent.step_id) == ("send", "welcome")
    own = welcome.model_copy(update={"send_window": office.model_copy(update={"weekdays": ["sat"]})})
    assert next_action(own, state, facts(timezone="UTC"), saturday, office).action == "send"  # its own window wins


SPLIT = """
id: ab
name: A/B
trigger: {type: segment_migrated, to: [new]}
exit_unless_segment_in: [new, active]
steps:
  - {id: pick, type: split, variants: [{to: a, weight: 3}, {to: b, weight: 1}]}
  - {id: a, type: send, template: welcome}
  - {id: stop, type: exit}
  - {id: b, type: branch, if: {opened_since_entry: true, attributes: {tier: gold}}, then: end, else: c}
  - {id: c, type: send, template: welcome-followup}
"""


def test_a_split_sends_each_customer_one_stable_way_by_weight() -> None:
    ab = parse(SPLIT)
    arms = [next_action(ab, JourneyState(cursor=0, customer_id=f"c{i}"), facts(), NOW) for i in range(4000)]
    share_a = sum(a.step_id == "a" for a in arms if a.action == "send") / len(arms)
    assert 0.72 <= share_a <= 0.78
    again = next_action(ab, JourneyState(cursor=0, customer_id="c7"), facts(), NOW)
    assert again == arms[7] and again.variants == {"pick": "a" if again.step_id == "a" else "b"}


def test_branches_on_engagement_and_attributes_and_exit_when_leaving_the_segment() -> None:
    ab = parse(SPLIT)
    b_customer = next(
        f"c{i}" for i in range(100) if next_action(ab, JourneyState(cursor=0, customer_id=f"c{i}"), facts(), NOW).step_id == "c"
    )
    start = JourneyState(cursor=0, customer_id=b_customer)
    engaged = facts(opened_since_entry=True, attributes={"tier": "gold"})
    assert next_action(ab, start, engaged, NOW).reason == "branch:b"
    assert next_action(ab, start, facts(opened_since_entry=True), NOW).step_id == "c"  # not gold
    assert next_action(ab, start, facts(step="at_risk"), NOW).reason == "left_segment"


def test_split_targets_must_exist() -> None:
    with pytest.raises(InvalidCampaign, match="unknown target"):
        parse(SPLIT.replace("{to: b, weight: 1}", "{to: nowhere, weight: 1}"))


def _waiting(until: str) -> Campaign:
    return parse(
        "id: x\nname: x\ntrigger: {type: date_reached, kind: days_before_service, days: 1}\n"
        f"steps:\n  - {{id: w, type: wait, until: {until}}}\n  - {{id: s, type: send, template: t}}\n"
    )


def test_a_wait_until_the_booking_end_resumes_the_day_after_at_the_hour_in_the_customers_time() -> None:
    campaign = _waiting("{anchor: booking_end, offset_days: 1, at_hour: 10}")
    stay = (datetime(2026, 1, 3, 14, tzinfo=UTC), datetime(2026, 1, 7, 9, tzinfo=UTC))
    state = JourneyState(cursor=0, trigger={"ref": "b-1"})
    berlin = facts(timezone="Europe/Berlin", bookings={"b-1": stay, "b-2": (NOW, NOW)})
    held = next_action(campaign, state, berlin, NOW)
    assert (held.action, held.wait_until) == ("wait", "2026-01-08T09:00:00+00:00")  # 10:00 in Berlin
    assert next_action(campaign, held, berlin, NOW + timedelta(days=6)).action == "wait"
    assert next_action(campaign, held, berlin, datetime(2026, 1, 8, 9, tzinfo=UTC)).step_id == "s"
    # the journey's booking is gone (cancelled): nothing to follow up
    gone = next_action(campaign, state, facts(bookings={"b-2": stay}), NOW)
    assert (gone.action, gone.reason) == ("end", "no_date:w")


def test_a_wait_until_a_fixed_date_and_one_already_past_costs_no_wait() -> None:
    campaign = _waiting("{anchor: date, day: 2026-12-24, at_hour: 8}")
    held = next_action(campaign, JourneyState(cursor=0), facts(), NOW)
    assert held.wait_until == "2026-12-24T08:00:00+00:00"
    late = next_action(campaign, JourneyState(cursor=0), facts(), datetime(2026, 12, 25, tzinfo=UTC))
    assert (late.action, late.step_id) == ("send", "s")


def test_a_wait_timed_from_the_customers_average_days_between_orders() -> None:
    from nudgeloop.domain.journeys import average_gap_days

    campaign = _waiting("{anchor: last_order, order_gap_multiple: 1.5, fallback_days: 7, at_hour: 10, max_days: 90}")
    orders = [datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 10, tzinfo=UTC), datetime(2025, 12, 20, tzinfo=UTC)]
    assert average_gap_days(orders) == 40.0
    rare = facts(last_order_at=orders[-1], average_gap_days=average_gap_days(orders))
    # 1.5 x 40 days after the last order (20 December): 18 February
    assert next_action(campaign, JourneyState(cursor=0), rare, NOW).wait_until == "2026-02-18T10:00:00+00:00"
    once = facts(last_order_at=orders[-1], average_gap_days=average_gap_days(orders[-1:]))
    # one order: the fallback (7 days after it, already past on 1 January) sends at once
    assert next_action(campaign, JourneyState(cursor=0), once, NOW).action == "send"
    # a very slow buyer waits at most max_days
    slow = facts(last_order_at=orders[-1], average_gap_days=300.0)
    assert next_action(campaign, JourneyState(cursor=0), slow, NOW).wait_until == (NOW + timedelta(days=90)).isoformat()
    # no order at all: no anchor
    assert next_action(campaign, JourneyState(cursor=0), facts(), NOW).reason == "no_date:w"


def test_a_wait_until_the_send_window_opens() -> None:
    campaign = _waiting("{anchor: send_window}")
    windowed = campaign.model_copy(update={"send_window": parse_window({"weekdays": ["mon"], "from_hour": 9})})
    held = next_action(windowed, JourneyState(cursor=0), facts(), NOW)  # 1 January 2026 is a Thursday
    assert held.wait_until == "2026-01-05T09:00:00+00:00"


def parse_window(data: dict) -> object:
    from nudgeloop.domain.windows import SendWindow

    return SendWindow.model_validate(data)


@pytest.mark.parametrize(
    ("until", "reason"),
    [
        ("{anchor: date}", "day goes with anchor: date"),
        ("{anchor: last_order, day: 2026-01-01}", "day goes with anchor: date"),
        ("{anchor: send_window, offset_days: 2}", "takes no offset_days"),
        ("{anchor: tomorrow}", "anchor"),
    ],
)
def test_invalid_waits_until_are_rejected_with_the_field(until: str, reason: str) -> None:
    with pytest.raises(InvalidCampaign) as caught:
        _waiting(until)
    assert reason in str(caught.value)


LONG = """
id: long
name: Long
trigger: {type: behaviour, event: custom.x}
steps:
  - {id: a, type: send, template: newsletter}
  - {id: w1, type: wait, days: 200}
  - {id: pick, type: branch, if: {ordered_since_entry: true}, then: w2, else: b}
  - {id: b, type: send, template: newsletter}
  - {id: w2, type: wait, days: 170}
  - {id: c, type: send, template: newsletter}
"""


def test_a_journey_that_could_outlive_a_standard_execution_is_refused_at_upload() -> None:
    with pytest.raises(InvalidCampaign) as refused:
        parse(LONG)
    assert "370 days" in str(refused.value) and "360" in str(refused.value)
    assert parse(LONG.replace("days: 170", "days: 160")).id == "long"  # 360 days: allowed
    until = LONG.replace("{id: w2, type: wait, days: 170}", "{id: w2, type: wait, until: {anchor: last_order, max_days: 200}}")
    with pytest.raises(InvalidCampaign):
        parse(until)  # an until counts with its max_days


def test_steps_that_loop_back_are_refused() -> None:
    looping = LONG.replace("then: w2, else: b", "then: a, else: b")
    with pytest.raises(InvalidCampaign) as refused:
        parse(looping)
    assert "loop" in str(refused.value)


def test_a_wait_past_the_journey_budget_ends_it_instead_of_letting_aws_time_it_out() -> None:
    campaign = parse(LONG.replace("days: 200", "days: 20"))
    state = JourneyState(cursor=0, entered_at="2026-01-01T00:00:00+00:00")
    late = NOW + timedelta(days=345)  # the 170-day wait would end 155 days past the budget
    state = state.advanced(cursor=4)
    out = next_action(campaign, state, facts(), late)
    assert (out.action, out.reason) == ("end", "time_limit:w2")


@pytest.mark.parametrize(
    ("field", "kind", "consent_purpose", "valid"),
    [
        ("mail_kind", "marketing", "newsletter", True),
        ("mail_kind", "marketing", "marketing", True),
        ("mail_kind", "service", "service", True),
        ("purpose", "service", "service", True),  # the older name is still read
        ("mail_kind", "service", "newsletter", False),
        ("purpose", "marketing", "service", False),
    ],
)
def test_a_campaigns_mail_kind_is_decided_once(field: str, kind: str, consent_purpose: str, valid: bool) -> None:
    text = (
        f"id: kind\nname: k\n{field}: {kind}\nconsent_purpose: {consent_purpose}\n"
        "trigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: send, template: welcome}]"
    )
    if valid:
        campaign = parse(text)
        assert (campaign.mail_kind, campaign.marketing) == (kind, kind == "marketing")
    else:
        with pytest.raises(InvalidCampaign, match="mail_kind and consent_purpose disagree"):
            parse(text)


def test_a_campaign_takes_entries_only_enabled_not_drafted_and_within_its_period() -> None:
    from datetime import UTC, datetime

    base = "id: p\nname: p\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: send, template: welcome}]\n"
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert parse(base).takes_entries(now)
    assert not parse(base + "draft: true\n").takes_entries(now)
    assert not parse(base + "enabled: false\n").takes_entries(now)
    period = parse(base + "starts_at: 2026-06-01T12:00:00Z\nends_at: 2026-06-30T00:00:00+02:00\n")
    assert period.takes_entries(now)  # from its start, inclusive
    assert not period.takes_entries(now.replace(hour=11, minute=59))
    assert period.takes_entries(datetime(2026, 6, 29, 21, 59, tzinfo=UTC))
    assert not period.takes_entries(datetime(2026, 6, 29, 22, 0, tzinfo=UTC))  # its end, exclusive (local midnight)
    with pytest.raises(InvalidCampaign, match="ends_at must be after starts_at"):
        parse(base + "starts_at: 2026-06-02T00:00:00Z\nends_at: 2026-06-01T00:00:00Z\n")
    with pytest.raises(InvalidCampaign, match="timezone"):
        parse(base + "starts_at: 2026-06-02T00:00:00\n")  # an instant needs its offset


POINTS = """
id: loyal
name: Points
mail_kind: service
consent_purpose: service
trigger: {type: segment_migrated, to: [vip]}
steps:
  - {id: welcome-points, type: points, points: 50}
  - {id: thanks, type: send, template: welcome}
  - {id: later, type: wait, days: 30}
  - {id: anniversary, type: points, points: 20, reason: anniversary}
"""


def test_points_steps_are_listed_for_the_plan_that_passes_them_and_only_for_it() -> None:
    campaign = parse(POINTS)
    first = next_action(campaign, JourneyState(cursor=0), facts(), NOW)
    assert (first.action, first.step_id) == ("send", "thanks")
    assert first.grants == [{"step_id": "welcome-points", "points": 50, "reason": "campaign"}]
    assert next_action(campaign, JourneyState(cursor=0), facts(), NOW) == first  # a retried Plan: the same grant
    wait = next_action(campaign, first, facts(), NOW)
    assert (wait.action, wait.grants) == ("wait", [])  # passed before: not again
    done = next_action(campaign, wait, facts(), NOW + timedelta(days=30))
    assert (done.action, done.grants) == ("end", [{"step_id": "anniversary", "points": 20, "reason": "anniversary"}])
    with pytest.raises(InvalidCampaign, match="points"):
        parse(POINTS.replace("points: 50", "points: 0"))
