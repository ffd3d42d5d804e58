"""Personal data is minimised in logs: no email addresses or names in any log line."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from tests.conftest import consent, order, post_events, upsert

NAMES = ("Ada", "Lovelace")


def test_a_whole_loop_logs_no_email_addresses_or_names(stack, monkeypatch) -> None:
    from nudgeloop.dal import event_log
    from nudgeloop.observability import logger

    captured = io.StringIO()
    sink = logging.StreamHandler(captured)
    sink.setFormatter(logger.registered_formatter)  # what Lambda's log lines go through
    logging.getLogger(logger.name).addHandler(sink)
    logger.setLevel("DEBUG")
    try:
        post_events(stack, [upsert("p1", last_name="Lovelace"), consent("p1"), order("p1", "o1")])
        stack.settle()
        stack.advance(timedelta(days=3))  # welcome series: mails go out, SES events come back
        mails = stack.outbox()
        assert mails and "p1@customers.example" in mails[0]["to"]
        stack.emit_ses_event(mails[0]["message_id"], "Bounce", {"bounceType": "Permanent"})
        stack.settle()

        def broken(event):  # an exception whose text quotes the address reaches logger.exception
            raise RuntimeError(f"could not store event of {event.properties.get('email')}")

        monkeypatch.setattr(event_log, "store_event", broken)
        status, _h, _b = stack.api(
            "POST",
            "/v1/events",
            headers={"x-api-key": "local-admin-key-for-development"},
            body=json.dumps({"events": [upsert("p2", email="ada.lovelace@customers.example")]}),
        )
        assert status == 502  # a function error (Errors metric), logged without the address
    finally:
        logger.setLevel("WARNING")
        logging.getLogger(logger.name).removeHandler(sink)
    logged = captured.getvalue()
    lines = [line for line in logged.splitlines() if line.startswith("{")]
    assert len(lines) > 5  # the handlers did log (levels, outcomes, the failure)
    assert any("request failed" in line and "<email>" in line for line in lines)
    for line in lines:
        assert "@customers.example" not in line, line
        assert not any(name in line for name in NAMES), line


def test_a_correlation_id_follows_an_order_event_to_the_mail_it_caused(stack) -> None:
    from nudgeloop.dal import ledger
    from nudgeloop.observability import logger

    post_events(stack, [upsert("k1"), consent("k1")])
    stack.settle()
    captured = io.StringIO()
    sink = logging.StreamHandler(captured)
    sink.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(sink)
    logger.setLevel("INFO")
    try:
        first_order = order("k1", "o1")
        post_events(stack, [first_order])
        stack.settle()
    finally:
        logging.getLogger(logger.name).removeHandler(sink)
        logger.setLevel("WARNING")
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    mine = [line["message"] for line in lines if line.get("correlation_id") == first_order["event_id"]]
    # the move up the staircase, the journey it started and the mail, all under the order's id
    assert {"customer migrated", "journey started", "mail sent"} <= set(mine)
    sent = [e for e in ledger.ledger("k1") if e.status == "sent"]
    assert [e.data["correlation_id"] for e in sent] == [first_order["event_id"]]
