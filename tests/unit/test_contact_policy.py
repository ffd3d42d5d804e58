"""The contact policy (domain/contact_policy.py): one gate, in one order, for sending and the
forecast."""

from __future__ import annotations

import pytest

from nudgeloop.domain.contact_policy import Facts, Refusal, before_reserving, is_marketing, over_cap

OK = Facts(address="ok", consent=True, marketing=True)


def test_a_mail_with_address_consent_and_nothing_against_it_may_go() -> None:
    assert before_reserving(OK) is None
    assert over_cap(True, 2, (3, 7)) is None


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
    assert over_cap(False, 99, (3, 7)) is None


def test_the_cap_counts_marketing_mails_in_its_window_and_can_be_off() -> None:
    assert over_cap(True, 3, (3, 7)) == Refusal("capped", "capped", "frequency_cap:3/7d")
    assert over_cap(True, 1000, None) is None


def test_the_mail_kind_follows_the_consent_purpose() -> None:
    assert is_marketing("newsletter") and is_marketing("marketing")
    assert not is_marketing("service")
