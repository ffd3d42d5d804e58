"""What scheduled and bulk jobs keep between runs: the daily run's state, the date occasions it
fired, import checkpoints, each audience's latest evaluation and its exports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock

from . import keys, writes
from .models import EngineItem


def run_state(name: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(keys.run(name), keys.RUN_STATE, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def save_run_state(name: str, data: dict[str, Any]) -> None:
    EngineItem(pk=keys.run(name), sk=keys.RUN_STATE, data=data, created_at=clock.iso(clock.now())).save()


def occasion_fired(customer_id: str, key: str) -> bool:
    try:
        EngineItem.get(keys.fired(customer_id), key)
    except EngineItem.DoesNotExist:
        return False
    return True


def mark_occasion(customer_id: str, key: str, at: datetime) -> None:
    """Remember a fired date occasion (kept ~2 years, longer than any occasion's window)."""
    EngineItem(
        pk=keys.fired(customer_id), sk=key, status="fired", created_at=clock.iso(at), expires_at=at + timedelta(days=800)
    ).save()


def import_state(file_key: str, version: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(keys.import_file(file_key), version, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def save_import_state(file_key: str, version: str, status: str, data: dict[str, Any]) -> None:
    """Checkpoint of one import file (kept 90 days): where to resume and what it has counted."""
    now = clock.now()
    EngineItem(
        pk=keys.import_file(file_key),
        sk=version,
        status=status,
        data=data,
        created_at=clock.iso(now),
        expires_at=now + timedelta(days=90),
    ).save()


def evaluation(audience_id: str) -> dict[str, Any] | None:
    """An audience's latest evaluation (its query, when, of which definition and snapshot)."""
    try:
        return dict(EngineItem.get(keys.audience(audience_id), keys.AUDIENCE_EVALUATION, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def save_evaluation(audience_id: str, data: dict[str, Any]) -> None:
    """Kept 2 days, as Athena's results are (catalog.expirations)."""
    now = clock.now()
    EngineItem(
        pk=keys.audience(audience_id),
        sk=keys.AUDIENCE_EVALUATION,
        data=data,
        created_at=clock.iso(now),
        expires_at=now + timedelta(days=2),
    ).save()


def forget_evaluation(audience_id: str) -> None:
    EngineItem(pk=keys.audience(audience_id), sk=keys.AUDIENCE_EVALUATION).delete()


def export(audience_id: str, export_id: str) -> dict[str, Any] | None:
    """An export of the audience (its request, query and outcome: ``services/audience_exports``)."""
    try:
        item = EngineItem.get(keys.audience(audience_id), keys.AUDIENCE_EXPORT_PREFIX + export_id, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return dict(item.data or {})


def save_export(audience_id: str, export_id: str, data: dict[str, Any], keep: timedelta, *, only_new: bool = False) -> bool:
    """Kept as long as the export's file (catalog.expirations); with ``only_new``, saved only if
    there is none of that id yet (returns whether it was saved)."""
    now = clock.now()
    item = EngineItem(
        pk=keys.audience(audience_id),
        sk=keys.AUDIENCE_EXPORT_PREFIX + export_id,
        data=data,
        created_at=clock.iso(now),
        expires_at=now + keep,
    )
    if only_new:
        return writes.put_once(item, EngineItem.pk)
    item.save()
    return True


def exports(audience_id: str) -> list[dict[str, Any]]:
    """Every export of the audience still kept (7 days: a handful a day at most)."""
    return [
        dict(item.data or {})
        for item in EngineItem.query(keys.audience(audience_id), EngineItem.sk.startswith(keys.AUDIENCE_EXPORT_PREFIX))
    ]
