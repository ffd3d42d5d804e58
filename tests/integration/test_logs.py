"""Personal data is minimised in logs: no email addresses or names in any log line."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from tests.conftest import consent, order, post_events, upsert

NAMES = ("Ada", "Lovelace")


def test_a_whole_loop_logs_no_email_addresses_or_names(stack, monkeypatch) -> None:
    from nudgeloop.dal import repo
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

        monkeypatch.setattr(repo, "store_event", broken)
        status, _h, _b = stack.api(
            "POST",
            "/v1/events",
            headers={"x-api-key": "local-dev-key"},
            body=json.dumps({"events": [upsert("p2", email="ada.lovelace@customers.example")]}),
        )
        assert status == 503
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
