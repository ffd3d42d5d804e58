"""Vouchers for the shop: issued with the mail that carries them, checked and redeemed through
the API (idempotent by order id), the redemption kept in the customer's history and counted for
the campaign step that sent the code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.dal import event_log
from nudgeloop.dal import vouchers as store
from nudgeloop.domain import idempotency
from nudgeloop.domain import vouchers as rules
from nudgeloop.domain.events import VOUCHER_REDEEMED, Event
from nudgeloop.domain.vouchers import Voucher
from nudgeloop.services.ingest import BadRequest

SOURCE = "nudgeloop.vouchers"


def well_formed(code: str) -> bool:
    """A code this stack could have issued or a pool could hold (anything else is not looked up)."""
    return bool(rules.CODE.match(code))


def get(code: str) -> Voucher | None:
    return store.get(code)


def issue(code: str, customer_id: str, campaign_id: str, step_id: str, valid_days: int) -> Voucher:
    """The voucher a mail carries, stored before the mail goes (a retried send keeps the first)."""
    now = clock.now()
    return store.issue(Voucher(code, customer_id, campaign_id, step_id, now, now + timedelta(days=valid_days)))


def upload_pool(pool: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/voucher-pools/{pool}/codes`` with ``{"codes": [...]}``: the shop's codes join the
    pool, each once (a repeated upload adds nothing twice). A bad request raises ``BadRequest``
    naming the field."""
    if not re.match(rules.POOL_NAME, pool):
        raise BadRequest("pool", "lower-case letters, digits and dashes, at most 40")
    if set(body) - {"codes"}:
        raise BadRequest(sorted(set(body) - {"codes"})[0], "unknown field")
    codes = body.get("codes")
    if not isinstance(codes, list) or not codes:
        raise BadRequest("codes", "a non-empty list of codes")
    if len(codes) > rules.MAX_POOL_UPLOAD:
        raise BadRequest("codes", f"at most {rules.MAX_POOL_UPLOAD} codes per request")
    for index, code in enumerate(codes):
        if not isinstance(code, str) or not rules.CODE.match(code):
            raise BadRequest(f"codes[{index}]", "4 to 32 upper-case letters, digits and dashes, starting with a letter or digit")
    unique = list(dict.fromkeys(codes))
    added, present = store.add_to_pool(pool, unique)
    return {
        "pool": pool,
        "added": added,
        "already_in_pool": present + len(codes) - len(unique),
        "available": store.pool_available(pool),
    }


def pool_status(pool: str) -> dict[str, Any] | None:
    """``GET /v1/voucher-pools/{pool}``: how many codes are left (None: not a pool name)."""
    if not re.match(rules.POOL_NAME, pool):
        return None
    return {"pool": pool, "available": store.pool_available(pool)}


def claim(pool: str, customer_id: str, campaign_id: str, step_id: str, execution: str, valid_days: int) -> Voucher | None:
    """A code of the shop's pool for this send, stored before the mail goes (a retried send gets
    the same); None when the pool is empty."""
    now = clock.now()
    wanted = Voucher("", customer_id, campaign_id, step_id, now, now + timedelta(days=valid_days))
    return store.claim(pool, wanted, execution)


def view(voucher: Voucher) -> dict[str, Any]:
    """What the shop sees of a voucher (no personal data beyond the customer id it belongs to)."""
    return {
        "code": voucher.code,
        "state": voucher.state(clock.now()),
        "customer_id": voucher.customer_id,
        "campaign_id": voucher.campaign_id,
        "step_id": voucher.step_id,
        "issued_at": clock.iso(voucher.issued_at),
        "expires_at": clock.iso(voucher.expires_at),
        "order_id": voucher.order_id,
        "redeemed_at": clock.iso(voucher.redeemed_at) if voucher.redeemed_at else None,
    }


@dataclass(frozen=True)
class Redemption:
    outcome: rules.Outcome | None  # None: no such voucher
    voucher: Voucher | None


def redeem(code: str, order_id: str) -> Redemption:
    """Redeem ``code`` for ``order_id``: once; the same order again answers as the first time."""
    for _attempt in range(3):
        voucher = store.get(code)
        if voucher is None:
            return Redemption(None, None)
        now = clock.now()
        outcome = rules.redemption(voucher, order_id, now)
        if outcome == "again" and voucher.redeemed_at is not None:
            _record(voucher, order_id, voucher.redeemed_at)  # a retry after a crash: the history gets it
        if outcome != "redeemed":
            return Redemption(outcome, voucher)
        if store.redeem(voucher, order_id, now):
            _record(voucher, order_id, now)
            return Redemption("redeemed", store.get(code))
    return Redemption("taken", store.get(code))


def _record(voucher: Voucher, order_id: str, at: Any) -> None:
    """The redemption in the customer's history, once (by the code)."""
    properties = {"code": voucher.code, "order_id": order_id, "campaign_id": voucher.campaign_id, "step_id": voucher.step_id}
    event_log.store_event(
        Event(
            event_id=idempotency.voucher_redeemed_event_id(voucher.code),
            type=VOUCHER_REDEEMED,
            customer_id=voucher.customer_id,
            occurred_at=at,
            source=SOURCE,
            properties=properties,
            received_at=clock.now(),
        )
    )
