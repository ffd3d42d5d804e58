"""Broadcasts in the engine table: the broadcast (``BROADCAST#<id>`` / ``BROADCAST``), its batches
(``BATCH#<n>``: customer ids and their state), and the index the sweep reads
(``BROADCASTS`` / ``ACTIVE#<id>`` while one is scheduled or under way, with its send time)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nudgeloop import clock

from . import keys, writes
from .models import EngineItem

INDEX = "BROADCASTS"
ACTIVE = "ACTIVE#"  # + the broadcast id: one scheduled or under way
# a batch (customer ids) is kept this long after it was written, then DynamoDB's TTL removes it:
# a broadcast is sent within a day or two; an erasure takes the person out of active ones at once
BATCH_KEEP = timedelta(days=30)


def _pk(broadcast_id: str) -> str:
    return f"{keys.BROADCAST_PREFIX}{broadcast_id}"


def get(broadcast_id: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(_pk(broadcast_id), keys.BROADCAST_SK, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def create(broadcast_id: str, data: dict[str, Any]) -> bool:
    """The broadcast and its index entry; False if one of that id exists (the request again)."""
    item = EngineItem(pk=_pk(broadcast_id), sk=keys.BROADCAST_SK, data=data, created_at=clock.iso(clock.now()))
    if not writes.put_once(item, EngineItem.pk):
        return False
    # with its send time: a sweep before it has nothing to do for it (the local scheduler reads it)
    EngineItem(pk=INDEX, sk=f"{ACTIVE}{broadcast_id}", data={"broadcast_id": broadcast_id, "send_at": data.get("send_at")}).save()
    return True


def save(broadcast_id: str, data: dict[str, Any]) -> None:
    EngineItem(pk=_pk(broadcast_id), sk=keys.BROADCAST_SK, data=data, created_at=clock.iso(clock.now())).save()


def active() -> list[str]:
    """The broadcasts scheduled or under way (the sweep's work)."""
    return [str((i.data or {})["broadcast_id"]) for i in EngineItem.query(INDEX, EngineItem.sk.startswith(ACTIVE))]


def finished(broadcast_id: str) -> None:
    EngineItem(pk=INDEX, sk=f"{ACTIVE}{broadcast_id}").delete()


def put_batch(broadcast_id: str, number: int, customers: list[str]) -> None:
    """A batch of members, parked (written again by a selection that resumes: the same ids)."""
    EngineItem(
        pk=_pk(broadcast_id),
        sk=f"{keys.BATCH_PREFIX}{number:06d}",
        status="parked",
        data={"number": number, "customers": customers, "not_before": None, "dispatched_at": None},
        expires_at=clock.now() + BATCH_KEEP,
    ).save()


def batches(broadcast_id: str) -> list[EngineItem]:
    return list(EngineItem.query(_pk(broadcast_id), EngineItem.sk.startswith(keys.BATCH_PREFIX), consistent_read=True))


def batch(broadcast_id: str, number: int) -> EngineItem | None:
    try:
        return EngineItem.get(_pk(broadcast_id), f"{keys.BATCH_PREFIX}{number:06d}", consistent_read=True)
    except EngineItem.DoesNotExist:
        return None


def update_batch(item: EngineItem, status: str, **data: Any) -> None:
    item.status = status
    item.data = {**(item.data or {}), **data}
    item.save()
