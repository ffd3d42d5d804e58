"""campaigns simulate: a forecast computed by hand for a win-back over five customers."""

from datetime import UTC, datetime
from decimal import Decimal

from nudgeloop.domain.forecast import Subject, simulate
from nudgeloop.domain.staircase import Staircase
from nudgeloop.services.campaign_store import parse

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
WINBACK = """
id: wb
name: Win-back
consent_purpose: marketing
trigger: {type: segment_migrated, from: [active], to: [at_risk]}
reentry: every_occurrence
steps:
  - {id: voucher, type: send, template: winback}
  - {id: wait-2-weeks, type: wait, days: 14}
  - {id: reminder, type: send, template: winback}
"""


def active(cid: str, ordered: str, **over) -> Subject:
    at = datetime.fromisoformat(ordered).replace(tzinfo=UTC)
    fields = {
        "segment": "active",
        "order_times": (at,),
        "order_values": (Decimal("20"),),
        "consents_ok": frozenset({"marketing"}),
    }
    return Subject(customer_id=cid, **{**fields, **over})


def test_the_forecast_counts_entries_sends_caps_exits_and_journeys_still_waiting() -> None:
    subjects = [
        active("a", "2025-07-10"),  # at risk on 7 January (181 days): voucher, reminder on 21 January
        # three marketing mails on 5 January: the voucher of 7 January is capped (3 in 7 days)
        active("b", "2025-07-10", marketing_sent=(datetime(2026, 1, 5, 10, tzinfo=UTC),) * 3),
        active("c", "2025-07-10", consents_ok=frozenset()),  # enters, ends for lack of consent
        active("d", "2025-09-01"),  # at risk on 1 March: after the horizon
        active("e", "2025-07-28"),  # at risk on 25 January: voucher, then still waiting on 31 January
    ]
    no_deferral = parse(WINBACK + "cap_deferral_days: 0\n")
    result = simulate(no_deferral, subjects, Staircase.default(), START, 30, frequency_cap=(3, 7)).as_dict()
    assert result["customers_considered"] == 5
    assert result["entries"] == {"entered": 4}
    assert result["steps"] == {"voucher": {"sent": 2, "capped": 1}, "reminder": {"sent": 2}}  # a, e; b capped
    assert result["exits"] == {"no_consent": 1, "completed": 2}
    assert result["waiting_at_end"] == {"wait-2-weeks": 1}
    assert result["to"] == "2026-01-31T09:00:00+00:00"


def test_a_capped_mail_is_forecast_as_sending_when_the_cap_allows_it() -> None:
    """The default deferral (7 days): b's voucher of 7 January waits until the three mails of
    5 January leave the window (12 January, 10:00), then goes; its reminder follows 14 days on."""
    b = active("b", "2025-07-10", marketing_sent=(datetime(2026, 1, 5, 10, tzinfo=UTC),) * 3)
    result = simulate(parse(WINBACK), [b], Staircase.default(), START, 30, frequency_cap=(3, 7)).as_dict()
    assert result["steps"] == {"voucher": {"deferred": 1, "sent": 1}, "reminder": {"sent": 1}}
    assert result["exits"] == {"completed": 1}


def test_holdout_audience_and_reentry_policy_shape_the_forecast() -> None:
    monthly = parse(
        "id: nl\nname: n\ntrigger: {type: schedule, day_of_month: 1, segments: [active]}\nreentry: after_days\n"
        "reentry_days: 45\naudience: {attributes: {tier: gold}}\nsteps: [{id: issue, type: send, template: t}]\n"
    )
    gold = [active(f"g{i}", "2025-09-15", attributes={"tier": "gold"}, consents_ok=frozenset({"newsletter"})) for i in range(3)]
    plain = active("p", "2025-09-15", consents_ok=frozenset({"newsletter"}))
    result = simulate(monthly, [*gold, plain], Staircase.default(), START, 90).as_dict()
    # 1 February and 1 March are due (1 April is past the horizon); after_days 45 turns the second away
    assert result["entries"] == {"entered": 3, "not_in_audience": 1, "reentry_too_soon": 4}
    assert result["steps"] == {"issue": {"sent": 3}}


def test_a_saved_entry_audience_admits_its_members_as_of_their_latest_evaluation() -> None:
    saved = parse(WINBACK.replace("reentry: every_occurrence", "reentry: every_occurrence\naudience: {saved: lapsed}"))
    member = active("a", "2025-07-10", member_of=frozenset({"lapsed"}))
    other = active("b", "2025-07-10", member_of=frozenset({"another"}))
    result = simulate(saved, [member, other], Staircase.default(), START, 30).as_dict()
    assert result["entries"] == {"entered": 1, "not_in_audience": 1}
    assert result["steps"] == {"voucher": {"sent": 1}, "reminder": {"sent": 1}}
