"""The contact policy (domain/contact_policy.py): one gate, in one order, for sending and the
forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nudgeloop.domain.contact_policy import Facts, Refusal, before_reserving, is_marketing, over_cap

OK = Facts(address="ok", consent=True, marketing=True)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def sent(*days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days_ago]


def test_a_mail_with_address_consent_and_nothing_against_it_may_go() -> None:
    assert before_reserving(OK) is None
    assert over_cap(True, sent(1, 2), (3, 7), NOW) is None


SKIP = "skipped"


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        (
            Facts(address="missing", consent=False, marketing=True, suppressed="complaint"),
            Refusal(SKIP, "no_address", "no_address"),
        ),
        (Facts(address="invalid", consent=True, marketing=True), Refusal(SKIP, "no_address", "invalid_address")),
        (
            Facts(address="ok", consent=False, marketing=True, suppressed="hard_bounce"),
            Refusal(SKIP, "no_consent", "no_consent"),
        ),
        (
            Facts(address="ok", consent=True, marketing=False, suppressed="hard_bounce", stopped="x"),
            Refusal(SKIP, "suppressed", "suppressed:hard_bounce"),
        ),
        (
            Facts(address="ok", consent=True, marketing=True, stopped="MessageRejected", paused="bounces"),
            Refusal(SKIP, "stopped", "step_stopped:MessageRejected"),
        ),
        (
            Facts(address="ok", consent=True, marketing=True, paused="bounce_rate"),
            Refusal("held", "", "marketing_paused:bounce_rate"),
        ),
    ],
)
def test_the_first_reason_in_policy_order_decides(facts: Facts, refusal: Refusal) -> None:
    assert before_reserving(facts) == refusal


def test_service_mail_is_not_paused_nor_capped() -> None:
    service = Facts(address="ok", consent=True, marketing=False, paused="bounce_rate")
    assert before_reserving(service) is None
    assert over_cap(False, sent(*range(7)), (3, 7), NOW) is None


def test_the_cap_counts_marketing_mails_in_its_window_and_can_be_off() -> None:
    assert over_cap(True, sent(1, 2, 3), (3, 7), NOW) == Refusal("capped", "capped", "frequency_cap:3/7d")
    assert over_cap(True, sent(*range(30)), None, NOW) is None


def test_a_capped_mail_waits_for_the_slot_the_cap_allows_within_the_deferral_limit() -> None:
    """3 in 7 days, sent 1, 2 and 6 days ago: the one 6 days ago leaves the window in a day."""
    three = sent(1, 2, 6)
    deferred = over_cap(True, three, (3, 7), NOW, defer_days=7)
    assert deferred is not None and deferred.status == "deferred" and deferred.counter == ""
    assert deferred.retry_at == NOW + timedelta(days=1, seconds=1)
    assert over_cap(True, three, (3, 7), NOW, defer_days=0) == Refusal("capped", "capped", "frequency_cap:3/7d")
    # four in the window: two must leave it; the second oldest (5 days ago) leaves in 2 days
    four = over_cap(True, sent(1, 2, 5, 6), (3, 7), NOW, defer_days=3)
    assert four is not None and four.retry_at == NOW + timedelta(days=2, seconds=1)
    assert over_cap(True, sent(1, 2, 5, 6), (3, 7), NOW, defer_days=1).status == "capped"  # type: ignore[union-attr]


def test_the_mail_kind_follows_the_consent_purpose() -> None:
    assert is_marketing("newsletter") and is_marketing("marketing")
    assert not is_marketing("service")
