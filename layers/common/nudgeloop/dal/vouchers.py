"""Vouchers (engine table): issued once per code with their validity, redeemed once by an order,
counted for the campaign step that sent them in the same transaction."""

from __future__ import annotations

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
