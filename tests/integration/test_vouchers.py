"""Vouchers the shop can trust: a mail's code is stored when the mail goes, checked and redeemed
through the API once (the same order again gets the same answer, another order a 409), expires,
and its redemption is in the customer's history and counted for the step that sent it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.conftest import KEY

CODE = "WELCOME-0123456789"


def _issue(stack: Any, code: str = CODE, days: int = 30) -> None:
    from nudgeloop.services import vouchers

    with stack.aws_lock:
        vouchers.issue(code, "c1", "welcome", "followup", days)


def _redeem(stack: Any, code: str, body: Any) -> tuple[int, dict[str, Any]]:
    status, _headers, answer = stack.api("POST", f"/v1/vouchers/{code}/redeem", headers=KEY, body=json.dumps(body))
    return status, json.loads(answer)


def test_a_voucher_is_redeemed_once_and_the_same_order_again_gets_the_same_answer(stack: Any) -> None:
    from nudgeloop.dal import campaign_stats, event_log

    _issue(stack)
    status, _h, body = stack.api("GET", f"/v1/vouchers/{CODE}", headers=KEY)
    assert status == 200 and json.loads(body)["state"] == "issued"
    status, first = _redeem(stack, CODE, {"order_id": "A-1"})
    assert status == 200 and (first["state"], first["order_id"]) == ("redeemed", "A-1")
    status, again = _redeem(stack, CODE, {"order_id": "A-1"})  # the shop's retry
    assert status == 200 and again == first
    status, other = _redeem(stack, CODE, {"order_id": "A-2"})
    assert status == 409 and other["error"] == {"field": "code", "reason": "redeemed already by another order"}
    stack.settle()
    with stack.aws_lock:
        history = [e for e in event_log.customer_events("c1") if e.type == "voucher.redeemed"]
        stats = campaign_stats.campaign_stats("welcome")
    assert [(e.properties["code"], e.properties["order_id"]) for e in history] == [(CODE, "A-1")]
    assert stats["followup"]["redeemed"] == 1  # counted once, for the step that sent it


def test_an_expired_or_unknown_voucher_is_refused_and_bad_requests_name_the_field(stack: Any) -> None:
    _issue(stack, "BDAY-ABCDEF0123", days=1)
    stack.clock.advance(timedelta(days=1))
    status, body = _redeem(stack, "BDAY-ABCDEF0123", {"order_id": "B-1"})
    assert status == 409 and body["error"]["reason"] == "expired"
    status, _h, shown = stack.api("GET", "/v1/vouchers/BDAY-ABCDEF0123", headers=KEY)
    assert status == 200 and json.loads(shown)["state"] == "expired"
    assert _redeem(stack, "NOPE-0000000000", {"order_id": "B-1"})[0] == 404
    assert _redeem(stack, "not a code", {"order_id": "B-1"})[0] == 404
    status, body = _redeem(stack, CODE, {"order": "B-1"})
    assert status == 400 and body["error"]["field"] == "order"
    status, body = _redeem(stack, CODE, {"order_id": ""})
    assert status == 400 and body["error"]["field"] == "order_id"
    status, _h, _b = stack.api("POST", f"/v1/vouchers/{CODE}/redeem", headers={}, body=json.dumps({"order_id": "x"}))
    assert status == 403  # keyed
