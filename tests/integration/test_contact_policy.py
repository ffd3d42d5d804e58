"""The contact policy on the local stack: a mail over the frequency cap is deferred to the
moment the cap allows it (within the campaign's limit) instead of dropped, and the cap counts
only earlier mails at least as important."""

from __future__ import annotations

from datetime import timedelta

from nudgeloop import clock
from tests.conftest import consent, order, post_events, upsert
from tests.integration.test_reputation import PROMO
from tests.integration.test_sending import request, send


def test_a_capped_mail_within_its_deferral_limit_is_deferred_not_recorded(stack) -> None:
    from nudgeloop.dal import ledger

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    cap = {"frequency_cap": (3, 7)}
    for i in range(3):
        assert send(stack, request(f"f{i}"), **cap)["status"] == "sent"
    sent_at = ledger.ledger_entry("c1", "welcome#welcome#f0").data["sent_at"]
    deferred = send(stack, request("f3", cap_deferral_days=7), **cap)
    assert deferred["status"] == "deferred" and deferred["reason"] == "frequency_cap:3/7d"
    assert deferred["retry_at"] == (clock.parse_iso(sent_at) + timedelta(days=7, seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ledger.ledger_entry("c1", "welcome#welcome#f3") is None  # given back: it may be sent later
    stack.clock.advance(timedelta(days=7, seconds=1))
    assert send(stack, request("f3", cap_deferral_days=7), **cap)["status"] == "sent"


def test_a_journeys_mail_over_the_cap_is_sent_when_the_cap_allows_it(stack) -> None:
    """The welcome after three promotions the same day: deferred by the cap (3 in 7 days), it
    goes out a week later instead of being dropped; the ledger holds one welcome."""
    from nudgeloop.dal import ledger

    stack.put_campaign("promo.yaml", PROMO.encode())
    promos = [
        {
            "event_id": f"p{i}",
            "type": "custom.promo",
            "customer_id": "c1",
            "occurred_at": "2026-01-01T08:30:00Z",
            "properties": {},
        }
        for i in range(3)
    ]
    post_events(stack, [upsert("c1"), consent("c1"), *promos])
    stack.settle()
    assert [m["campaign_id"] for m in stack.outbox()] == ["promo"] * 3
    post_events(stack, [order("c1", "o1")])  # prospect -> new: the welcome
    stack.settle()
    assert [m["campaign_id"] for m in stack.outbox()].count("welcome") == 0  # deferred, not capped
    assert not [e for e in ledger.ledger("c1") if e.status == "capped"]
    stack.advance(timedelta(days=7, hours=1))
    welcomes = [m for m in stack.outbox() if m["campaign_id"] == "welcome"]
    assert [m["step_id"] for m in welcomes] == ["welcome"]
    entry = next(e for e in ledger.ledger("c1") if e.key.startswith("welcome#welcome#"))
    assert entry.status == "sent" and entry.sent_at is not None and entry.sent_at >= "2026-01-08T09:00"


def test_the_cap_counts_only_earlier_mails_at_least_as_important(stack) -> None:
    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    cap = {"frequency_cap": (3, 7)}
    for i in range(3):  # three promotions (priority 5)
        assert send(stack, request(f"p{i}"), **cap)["status"] == "sent"
    assert send(stack, request("g1", step="greeting", priority=8), **cap)["status"] == "sent"  # the birthday goes
    assert send(stack, request("p3"), **cap)["status"] == "capped"  # another promotion does not
    for i in range(2):
        assert send(stack, request(f"g{i + 2}", step="greeting", priority=8), **cap)["status"] == "sent"
    assert send(stack, request("g9", step="greeting", priority=8), **cap)["status"] == "capped"  # three as important
