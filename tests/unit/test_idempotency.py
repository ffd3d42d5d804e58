"""Each idempotency key (nudgeloop/domain/idempotency.py): which differences make two
occurrences distinct, and which do not."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from nudgeloop.domain import idempotency as keys
from nudgeloop.domain.idempotency import EXECUTION_NAME_RE


def _event(**changes: Any) -> dict[str, Any]:
    raw = {
        "type": "order.completed",
        "customer_id": "c-1",
        "occurred_at": "2026-03-01T10:00:00Z",
        "source": "webshop",
        "properties": {"order_id": "o-1", "total": "19.90"},
    }
    return {**raw, **changes}


def test_an_event_without_id_is_the_same_event_when_its_content_is() -> None:
    base = keys.event_id_from_content(_event())
    assert base.startswith("c-") and len(base) == 42
    assert keys.event_id_from_content(_event()) == base
    # key order in the properties and fields outside the content do not make another event
    reordered = _event(properties={"total": "19.90", "order_id": "o-1"})
    assert keys.event_id_from_content(reordered) == base
    assert keys.event_id_from_content({**_event(), "received_at": "later"}) == base
    for change in (
        {"customer_id": "c-2"},
        {"occurred_at": "2026-03-01T10:00:01Z"},
        {"type": "order.refunded"},
        {"source": "pos"},
        {"properties": {"order_id": "o-2", "total": "19.90"}},
    ):
        assert keys.event_id_from_content(_event(**change)) != base, change


def test_ses_feedback_is_one_event_per_message_kind_and_link() -> None:
    base = keys.feedback_event_id("m-1", "clicked", "https://shop.example/a")
    assert keys.feedback_event_id("m-1", "clicked", "https://shop.example/a") == base  # SES retried
    assert keys.feedback_event_id("m-1", "clicked", "https://shop.example/b") != base  # another link
    assert keys.feedback_event_id("m-1", "opened") != base
    assert keys.feedback_event_id("m-2", "clicked", "https://shop.example/a") != base
    assert keys.feedback_event_id("m-1", "opened") == keys.feedback_event_id("m-1", "opened", "")


def test_a_migration_is_recorded_once_per_day_and_move() -> None:
    base = keys.migration_event_id("2026-03-01", "new", "active")
    assert keys.migration_event_id("2026-03-01", "new", "active") == base
    assert keys.migration_event_id("2026-03-02", "new", "active") != base
    assert keys.migration_event_id("2026-03-01", "active", "new") != base  # and back is another move


def test_a_date_occasion_is_one_per_rule_local_date_and_subject() -> None:
    base = keys.date_occurrence("birthday", 0, date(2026, 5, 4), "2026")
    assert keys.date_occurrence("birthday", 0, date(2026, 5, 4), "2026") == base
    assert keys.date_occurrence("birthday", 0, date(2027, 5, 4), "2027") != base  # next year's
    assert keys.date_occurrence("birthday", 7, date(2026, 5, 4), "2026") != base  # another offset
    assert keys.date_occurrence("booking", 0, date(2026, 5, 4), "b-1") != keys.date_occurrence(
        "booking", 0, date(2026, 5, 4), "b-2"
    )


@pytest.mark.parametrize(
    ("detail_type", "detail", "same", "different"),
    [
        ("DateReached", {"occurrence": "birthday:0:2026-05-04:2026"}, {"occurrence": "birthday:0:2026-05-04:2026", "x": 1},
         {"occurrence": "birthday:0:2027-05-04:2027"}),
        ("BehaviourObserved", {"event_id": "e-1", "type": "cart.abandoned"}, {"event_id": "e-1", "type": "other"},
         {"event_id": "e-2", "type": "cart.abandoned"}),
        ("ScheduleReached", {"campaign_id": "news", "on": "2026-03-01"}, {"campaign_id": "news", "on": "2026-03-01", "y": 2},
         {"campaign_id": "news", "on": "2026-03-08"}),
        ("SegmentMigrated", {"from": "new", "to": "active", "on": "2026-03-01"},
         {"from": "new", "to": "active", "on": "2026-03-01", "at": "10:00"}, {"from": "new", "to": "vip", "on": "2026-03-01"}),
    ],
)  # fmt: skip
def test_a_trigger_occurrence_is_told_apart_by_what_makes_it_another(
    detail_type: str, detail: dict[str, Any], same: dict[str, Any], different: dict[str, Any]
) -> None:
    assert keys.trigger_occurrence(detail_type, same) == keys.trigger_occurrence(detail_type, detail)
    assert keys.trigger_occurrence(detail_type, different) != keys.trigger_occurrence(detail_type, detail)


def test_execution_names_are_deterministic_valid_and_follow_the_reentry_rule() -> None:
    weird = "cust/ü?*" + "x" * 300
    name = keys.execution_name("welcome", "never", weird, "prospect>new@2026-01-01")
    assert EXECUTION_NAME_RE.match(name)
    assert len(name) <= 80
    assert weird[:8] not in name  # the customer id is hashed
    assert name == keys.execution_name("welcome", "never", weird, "other occurrence")  # once, ever
    assert name != keys.execution_name("welcome", "never", weird + "1", "prospect>new@2026-01-01")
    assert name != keys.execution_name("winback", "never", weird, "prospect>new@2026-01-01")
    for reentry in ("every_occurrence", "after_days"):
        assert keys.execution_name("w", reentry, "c", "a") != keys.execution_name("w", reentry, "c", "b")
        assert keys.execution_name("w", reentry, "c", "a") == keys.execution_name("w", reentry, "c", "a")
    with pytest.raises(ValueError, match="invalid execution name"):
        keys.execution_name("x" * 70, "never", "c", "a")  # too long for Step Functions


def test_a_journey_step_is_sent_once_per_journey() -> None:
    base = keys.ledger_key("welcome", "welcome", "exec-1")
    assert keys.ledger_key("welcome", "welcome", "exec-1") == base
    assert keys.ledger_key("welcome", "followup", "exec-1") != base  # the next step
    assert keys.ledger_key("welcome", "welcome", "exec-2") != base  # another journey
    assert keys.ledger_key("winback", "welcome", "exec-1") != base


def test_a_confirmation_mail_is_one_per_sign_up_statement() -> None:
    base = keys.confirmation("newsletter", "2026-03-01T10:00:00Z")
    assert keys.confirmation("newsletter", "2026-03-01T10:00:00Z") == base
    assert keys.confirmation("newsletter", "2026-03-02T10:00:00Z") != base  # signed up again
    assert keys.confirmation("offers", "2026-03-01T10:00:00Z") != base


def test_an_archived_mail_is_one_object_per_ledger_entry() -> None:
    base = keys.archived_mail("c-1", "welcome#welcome#exec-1")
    assert keys.archived_mail("c-1", "welcome#welcome#exec-1") == base  # a retry overwrites
    assert keys.archived_mail("c-2", "welcome#welcome#exec-1") != base
    assert keys.archived_mail("c-1", "welcome#followup#exec-1") != base
    assert "c-1" not in base


def test_the_entry_claim_covers_the_occurrence_or_the_customer_as_the_reentry_rule_says() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 6, 1, tzinfo=UTC)
    never = keys.entry_claim("never", None, now)
    assert (never.scope, never.reclaimable_before, never.expires) == ("customer", None, None)  # once, ever
    later = keys.entry_claim("after_days", 30, now)
    assert (later.scope, later.reclaimable_before, later.expires) == ("customer", now - timedelta(days=30), None)
    every = keys.entry_claim("every_occurrence", None, now)
    assert every.scope == "occurrence" and every.reclaimable_before is None
    assert every.expires == now + timedelta(days=keys.OCCURRENCE_CLAIM_DAYS)  # a replay within this finds it
