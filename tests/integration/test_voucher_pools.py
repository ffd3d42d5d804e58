"""Voucher pools: the shop uploads its own codes, a send step with ``voucher_pool`` takes one per
mail (stored before the mail goes, the same one for a retried send), and with the pool empty the
mail is not sent (recorded failed, not sent without its code)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import KEY, consent, order, post_events, upsert

POOL_PROMO = """
id: pool-promo
name: A code from the shop's pool
consent_purpose: newsletter
trigger: {type: segment_migrated, from: [prospect], to: [new]}
steps:
  - {id: code, type: send, template: welcome-followup, voucher_pool: summer-2026, voucher_days: 14}
"""


def _upload(stack: Any, pool: str, body: Any) -> tuple[int, dict[str, Any]]:
    status, _headers, answer = stack.api("POST", f"/v1/voucher-pools/{pool}/codes", headers=KEY, body=json.dumps(body))
    return status, json.loads(answer)


def test_the_shop_uploads_codes_each_once_and_bad_uploads_name_the_field(stack: Any) -> None:
    status, done = _upload(stack, "summer-2026", {"codes": ["SUN-0001", "SUN-0002", "SUN-0001"]})
    assert status == 200 and done == {"pool": "summer-2026", "added": 2, "already_in_pool": 1, "available": 2}
    status, done = _upload(stack, "summer-2026", {"codes": ["SUN-0002", "SUN-0003"]})  # the shop's retry, and one more
    assert status == 200 and (done["added"], done["already_in_pool"], done["available"]) == (1, 1, 3)
    status, _h, body = stack.api("GET", "/v1/voucher-pools/summer-2026", headers=KEY)
    assert status == 200 and json.loads(body) == {"pool": "summer-2026", "available": 3}

    bad = [
        ("Summer", {"codes": ["SUN-0004"]}, "pool"),
        ("summer-2026", {"codes": []}, "codes"),
        ("summer-2026", {"codes": "SUN-0004"}, "codes"),
        ("summer-2026", {"codes": ["SUN-0004", "sun 5"]}, "codes[1]"),
        ("summer-2026", {"codes": [f"SUN-{n:05d}" for n in range(501)]}, "codes"),
        ("summer-2026", {"codes": ["SUN-0004"], "expires": "soon"}, "expires"),
    ]
    for pool, body, field in bad:
        status, answer = _upload(stack, pool, body)
        assert (status, answer["error"]["field"]) == (400, field), (pool, body, answer)
    assert stack.api("GET", "/v1/voucher-pools/Not_A_Pool", headers=KEY)[0] == 404
    assert stack.api("POST", "/v1/voucher-pools/summer-2026/codes", body=json.dumps({"codes": ["X-1234"]}))[0] == 403


def test_each_mail_takes_its_own_code_and_an_empty_pool_sends_nothing(stack: Any) -> None:
    from nudgeloop.dal import ledger

    stack.put_campaign("pool-promo.yaml", POOL_PROMO.encode())
    assert _upload(stack, "summer-2026", {"codes": ["SUN-0001", "SUN-0002"]})[0] == 200
    for cid in ("p1", "p2", "p3"):
        post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
        stack.settle()
    mails = [m for m in stack.outbox() if m["campaign_id"] == "pool-promo"]
    codes = {m["customer_id"]: next(c for c in ("SUN-0001", "SUN-0002") if c in m["text"]) for m in mails if "SUN-" in m["text"]}
    assert sorted(codes) == ["p1", "p2"] and sorted(codes.values()) == ["SUN-0001", "SUN-0002"]  # one each, none twice
    assert [m["customer_id"] for m in mails] == ["p1", "p2"]  # the third mail would have carried no code: not sent
    for cid, code in codes.items():
        status, _h, body = stack.api("GET", f"/v1/vouchers/{code}", headers=KEY)
        voucher = json.loads(body)
        assert status == 200
        assert (voucher["customer_id"], voucher["campaign_id"], voucher["state"]) == (cid, "pool-promo", "issued")
    with stack.aws_lock:
        third = [e for e in ledger.ledger("p3") if e.key.startswith("pool-promo")]
    assert [(e.status, e.data.get("reason")) for e in third] == [("failed", "voucher_pool_empty: summer-2026")]
    status, _h, body = stack.api("GET", "/v1/voucher-pools/summer-2026", headers=KEY)
    assert status == 200 and json.loads(body)["available"] == 0


def test_a_retried_send_gets_the_code_it_took_before(stack: Any) -> None:
    from nudgeloop.services import vouchers

    assert _upload(stack, "summer-2026", {"codes": ["SUN-0001", "SUN-0002", "SUN-0003"]})[0] == 200
    with stack.aws_lock:
        first = vouchers.claim("summer-2026", "c1", "pool-promo", "code", "pool-promo-c1-once", 14)
        again = vouchers.claim("summer-2026", "c1", "pool-promo", "code", "pool-promo-c1-once", 14)
        other = vouchers.claim("summer-2026", "c2", "pool-promo", "code", "pool-promo-c2-once", 14)
    assert first is not None and again is not None and other is not None
    assert again.code == first.code and other.code != first.code
    assert (first.expires_at - first.issued_at).days == 14
    status, _h, body = stack.api("GET", "/v1/voucher-pools/summer-2026", headers=KEY)
    assert status == 200 and json.loads(body)["available"] == 1
