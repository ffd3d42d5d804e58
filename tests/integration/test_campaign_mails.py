"""What marketers see of what went out: a campaign's sent mails with their archived copies, and
test sends to their own address that are recorded and counted nowhere."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import consent, order, post_events, upsert


def test_a_campaigns_sent_mails_are_listed_newest_first_with_links_to_the_archived_copies(stack) -> None:
    import json

    import requests

    from tests.conftest import KEY

    for i in range(3):
        post_events(stack, [upsert(f"m{i}"), consent(f"m{i}"), order(f"m{i}", "o1", at=f"2025-12-31T10:0{i}:00Z")])
        stack.settle()
        stack.clock.advance(timedelta(minutes=1))
    status, _headers, body = stack.api("GET", "/v1/campaigns/welcome/mails", headers=KEY, query={"limit": "2"})
    first = json.loads(body)
    assert status == 200 and [m["customer_id"] for m in first["mails"]] == ["m2", "m1"] and first["next"]
    status, _headers, body = stack.api(
        "GET", "/v1/campaigns/welcome/mails", headers=KEY, query={"limit": "2", "cursor": first["next"]}
    )
    second = json.loads(body)
    assert [m["customer_id"] for m in second["mails"]] == ["m0"] and second["next"] is None
    mail = first["mails"][0]
    assert mail["step_id"] == "welcome" and mail["message_id"] == next(
        m["message_id"] for m in stack.outbox() if m["customer_id"] == "m2"
    )
    with stack.aws_lock:  # moto answers the presigned link (it intercepts requests in process)
        archived = requests.get(mail["archived"], timeout=10)
    assert archived.status_code == 200 and b"Subject:" in archived.content
    status, _headers, body = stack.api("GET", "/v1/campaigns/birthday/mails", headers=KEY, query={"cursor": first["next"]})
    assert status == 400 and json.loads(body)["error"]["field"] == "cursor"  # a cursor of another listing


def test_a_test_send_goes_to_the_given_address_marked_and_recorded_nowhere(stack) -> None:
    import json

    from nudgeloop.dal import ledger
    from nudgeloop_cli.local.server import control

    post_events(stack, [upsert("de1", locale="de-AT", gender="female"), order("de1", "o1")])
    stack.settle()
    before = len(stack.outbox())
    payload = {"to": "marketer@shop.example", "customer_id": "de1"}
    status, _headers, body = control(stack, "POST", "/_local/templates/welcome/test-send", json.dumps(payload))
    assert status == 200, body
    mail = stack.outbox()[-1]
    assert len(stack.outbox()) == before + 1 and mail["to"] == "marketer@shop.example"
    assert mail["subject"] == "[TEST] Liebe Ada, willkommen bei uns!" and "List-Unsubscribe" not in mail["headers"]
    assert mail["campaign_id"] is None  # no message record, so no feedback is counted for it
    assert [e.key for e in ledger.ledger("de1") if "test" in e.key] == []
    sample = {"to": "marketer@shop.example"}  # no customer: the sample context validation uses
    status, _headers, body = control(stack, "POST", "/_local/templates/welcome/test-send", json.dumps(sample))
    assert status == 200 and json.loads(body)["subject"].startswith("[TEST] ")
    status, _headers, body = control(stack, "POST", "/_local/templates/welcome/test-send", json.dumps({"to": "not an address"}))
    assert status == 400 and json.loads(body)["error"]["field"] == "to"
