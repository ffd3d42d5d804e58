"""Referral codes (engine table): which customer a code belongs to, stored when they refer a
friend, so that the friend's first order can reward them."""

from __future__ import annotations

from nudgeloop import clock

from . import keys
from .models import EngineItem
from .writes import put_once


def record(code: str, referrer: str) -> bool:
    """The code is the referrer's; the first statement stands (a code is never handed on)."""
    item = EngineItem(pk=keys.referral(code), sk=keys.REFERRAL_SK, data={"referrer": referrer}, created_at=clock.iso(clock.now()))
    return put_once(item, EngineItem.pk)


def referrer_of(code: str) -> str | None:
    try:
        item = EngineItem.get(keys.referral(code), keys.REFERRAL_SK, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return str((item.data or {}).get("referrer") or "") or None
