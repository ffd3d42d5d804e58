"""Vouchers (engine table): issued once per code with their validity, redeemed once by an order,
counted for the campaign step that sent them in the same transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain.vouchers import Voucher

from . import keys
from .campaign_stats import count
from .models import EngineItem
from .writes import once, put_once


def _item(voucher: Voucher) -> EngineItem:
    return EngineItem(
        pk=keys.voucher(voucher.code),
        sk=keys.VOUCHER_SK,
        status=voucher.status,
        data={
            "customer_id": voucher.customer_id,
            "campaign_id": voucher.campaign_id,
            "step_id": voucher.step_id,
            "expires_at": clock.iso(voucher.expires_at),
        },
        created_at=clock.iso(voucher.issued_at),
    )


def _value(code: str, item: EngineItem) -> Voucher:
    data = item.data or {}
    redeemed = data.get("redeemed_at")
    return Voucher(
        code=code,
        customer_id=str(data.get("customer_id", "")),
        campaign_id=str(data.get("campaign_id", "")),
        step_id=str(data.get("step_id", "")),
        issued_at=clock.parse_iso(str(item.created_at)),
        expires_at=clock.parse_iso(str(data["expires_at"])),
        status="redeemed" if item.status == "redeemed" else "issued",
        order_id=data.get("order_id"),
        redeemed_at=clock.parse_iso(redeemed) if redeemed else None,
    )


def issue(voucher: Voucher) -> Voucher:
    """Store a voucher once; a retried send finds it issued and keeps the first one's dates."""
    if put_once(_item(voucher), EngineItem.pk):
        return voucher
    held = get(voucher.code)
    assert held is not None  # a failed put-once means it exists
    return held


def get(code: str) -> Voucher | None:
    try:
        return _value(code, EngineItem.get(keys.voucher(code), keys.VOUCHER_SK, consistent_read=True))
    except EngineItem.DoesNotExist:
        return None


def redeem(voucher: Voucher, order_id: str, at: datetime) -> bool:
    """Mark an issued voucher redeemed by ``order_id`` and count it for its step, once; False
    when someone redeemed it meanwhile."""
    item = _item(voucher)

    def write(tx: TransactWrite) -> None:
        tx.update(
            item,
            actions=[
                EngineItem.status.set("redeemed"),
                EngineItem.data.set({**(item.data or {}), "order_id": order_id, "redeemed_at": clock.iso(at)}),
            ],
            condition=EngineItem.status == "issued",
        )
        count(tx, voucher.campaign_id, voucher.step_id, "redeemed")

    return once(write)


# ---------------------------------------------------------------------------- pools


def add_to_pool(pool: str, codes: list[str]) -> tuple[int, int]:
    """Add codes to a pool, each once; returns (added, already in the pool)."""
    added = 0
    now = clock.iso(clock.now())
    for code in codes:
        item = EngineItem(
            pk=keys.voucher_pool(pool),
            sk=code,
            status="available",
            due_shard=keys.voucher_pool(pool),  # available codes are listed by the index
            due_at=f"{now}#{code}",  # oldest upload first
            created_at=now,
        )
        added += put_once(item, EngineItem.sk)
    return added, len(codes) - added


def pool_available(pool: str) -> int:
    """How many codes of a pool are still available."""
    return EngineItem.by_due.count(keys.voucher_pool(pool))


def claimed(execution: str, step_id: str) -> Voucher | None:
    """The voucher a journey's send step took from a pool already (a retried send)."""
    try:
        claim = EngineItem.get(keys.pool_claim(execution, step_id), keys.POOL_CLAIM_SK, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return get(str((claim.data or {})["code"]))


CANDIDATES = 10  # available codes read per attempt (another send may take the first)


def claim(pool: str, voucher: Voucher, execution: str) -> Voucher | None:
    """Take an available code of ``pool`` for ``voucher`` (its code ignored): the code leaves the
    pool, the claim and the voucher are stored, in one transaction. A retried send gets the code
    it took before; None when the pool has no code left."""
    held = claimed(execution, voucher.step_id)
    if held is not None:
        return held
    for _attempt in range(3):
        candidates = list(EngineItem.by_due.query(keys.voucher_pool(pool), limit=CANDIDATES))
        if not candidates:
            return None
        for candidate in candidates:
            taken = replace(voucher, code=candidate.sk)
            if _take(pool, candidate, taken, execution):
                return taken
            held = claimed(execution, voucher.step_id)  # a concurrent retry of this send took one
            if held is not None:
                return held
    return None


def _take(pool: str, candidate: EngineItem, taken: Voucher, execution: str) -> bool:
    """One transaction: the code leaves the pool (if still available), the send's claim and the
    voucher are stored (if neither exists). False when a condition failed: nothing written."""

    def write(tx: TransactWrite) -> None:
        tx.update(
            candidate,
            actions=[
                EngineItem.status.set("issued"),
                EngineItem.due_shard.remove(),
                EngineItem.due_at.remove(),
                EngineItem.data.set({"customer_id": taken.customer_id, "campaign_id": taken.campaign_id}),
            ],
            condition=EngineItem.status == "available",
        )
        tx.save(
            EngineItem(
                pk=keys.pool_claim(execution, taken.step_id),
                sk=keys.POOL_CLAIM_SK,
                data={"code": taken.code, "pool": pool},
                created_at=clock.iso(clock.now()),
            ),
            condition=EngineItem.pk.does_not_exist(),
        )
        tx.save(_item(taken), condition=EngineItem.pk.does_not_exist())

    return once(write)
