"""``local serve --state DIR``: a stack saved when it stops goes on where it stopped when it
starts again, with its data, its campaign history, its clock and its parked journeys."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nudgeloop_cli.local import state
from nudgeloop_cli.local.runtime import LocalStack

from ..conftest import KEY, START, consent, get_customer, order, post_events, upsert


def _stack() -> LocalStack:
    return LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development").start()


def _dlq_url(stack: LocalStack, queue_key: str) -> str:
    assert stack.res is not None
    return stack.res.dlq_urls[next(q.dlq_name for q in stack.catalog.queues if q.key == queue_key)]


def _dlq_bodies(stack: LocalStack, queue_key: str) -> list[str]:
    from nudgeloop.adapters.aws import client

    got = client("sqs").receive_message(QueueUrl=_dlq_url(stack, queue_key), MaxNumberOfMessages=10)
    return [m["Body"] for m in got.get("Messages", [])]


def test_a_restarted_stack_keeps_its_data_history_clock_and_parked_journeys(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    first = _stack()
    try:
        first.load_examples()
        post_events(first, [upsert("c1"), consent("c1"), order("c1", "o1")])
        first.settle()
        first.advance(timedelta(hours=5))
        welcome = first.outbox()
        assert [m["step_id"] for m in welcome] == ["welcome"]  # the follow-up waits three days
        unsubscribe = parse_qs(urlsplit(welcome[0]["headers"]["List-Unsubscribe"].strip("<>")).query)["token"][0]
        history = first.admin.campaign_history("welcome")
        customer = get_customer(first, "c1")[1]
        with first.aws_lock:
            from nudgeloop.adapters.aws import client

            client("sqs").send_message(QueueUrl=_dlq_url(first, "feedback"), MessageBody='{"left": "here"}')
        # a key made through the API, and a shipped key revoked
        status, _h, made = first.api("POST", "/v1/keys", headers=KEY, body=json.dumps({"name": "till", "scope": "ingest"}))
        assert status == 201
        till = {"x-api-key": json.loads(made)["value"]}
        keys = json.loads(first.api("GET", "/v1/keys", headers=KEY)[2])["keys"]
        read_key = next(k["key_id"] for k in keys if k["name"] == "local-read")
        assert first.api("DELETE", f"/v1/keys/{read_key}", headers=KEY)[0] == 200
        now = first.clock.now()
        counts = state.save(first, directory)
    finally:
        first.stop()
    assert (counts["journeys"], counts["journeys_not_parked"], counts["messages"]) == (1, 0, 1), counts
    assert state.saved(directory) and not directory.with_name("state.saving").exists()

    second = _stack()  # provisioned afresh: nothing of the first but what the directory holds
    try:
        restored = state.restore(second, directory)
        assert restored == {**{k: counts[k] for k in ("items", "objects", "messages", "journeys")}, "api_keys": 3}
        assert second.api("POST", "/v1/events", headers=till, body=json.dumps({"events": [upsert("c9")]}))[0] == 202
        assert second.api("GET", "/v1/customers/c1", headers={"x-api-key": "local-read-key-for-development"})[0] == 403
        assert second.clock.now() == now
        assert get_customer(second, "c1")[1] == customer
        assert second.admin.campaign_history("welcome") == history  # the same versions, ids and uploaders
        assert _dlq_bodies(second, "feedback") == ['{"left": "here"}']
        kept = second.outbox()  # SES's history of accepted mails is kept too
        assert [(m["message_id"], m["step_id"], m["sent_at"]) for m in kept] == [
            (m["message_id"], m["step_id"], m["sent_at"]) for m in welcome
        ]

        second.advance(timedelta(days=3))
        assert [m["step_id"] for m in second.outbox()] == ["welcome", "followup"]  # once, not the welcome again
        second.advance(timedelta(days=10))
        assert [m["step_id"] for m in second.outbox()] == ["welcome", "followup"]
        # a mail of before the restart can still be opened, and its open is the customer's
        second.mailbox.emit_ses_event(welcome[0]["message_id"], "Open")
        second.settle()
        _status, _h, events = second.api("GET", "/v1/customers/c1/events", headers=KEY)
        assert "email.opened" in events

        # links in mails sent before the restart still verify
        status, _headers, _body = second.api("POST", "/v1/unsubscribe", query={"token": unsubscribe})
        assert status == 200
        second.settle()
        assert get_customer(second, "c1")[1]["consents"]["newsletter"]["status"] == "opt_out"
        status, _headers, body = second.api("GET", "/v1/customers/nobody", headers=KEY)
        assert status == 404, body
    finally:
        second.stop()


def test_fresh_forgets_and_a_foreign_state_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / state.META).write_text(json.dumps({"format": 999}))
    stack: Any = _stack()
    try:
        try:
            state.restore(stack, directory)
        except Exception as exc:
            assert "--fresh" in str(exc)
        else:
            raise AssertionError("a state of another format was loaded")
    finally:
        stack.stop()
    state.clear(directory)
    assert not state.saved(directory)


def test_local_serve_says_why_it_cannot_load_a_state_and_changes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nudgeloop_cli.main import app

    directory = tmp_path / "state"
    directory.mkdir()
    saved = json.dumps({"format": 999})
    (directory / state.META).write_text(saved)
    result = CliRunner().invoke(app, ["local", "serve", "--port", "0", "--state", str(directory)])
    assert result.exit_code == 2
    assert "cannot load the saved state" in result.output and "--fresh" in result.output
    assert (directory / state.META).read_text() == saved
