"""What decides whether mail may go out at all: template status, suppression, stopped steps,
the sending reputation and the marketing pause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain.reputation import hour_key

from . import keys
from .models import EngineItem
from .writes import put_once


def save_template_status(name: str, data: dict[str, Any]) -> None:
    EngineItem(
        pk=keys.template(name),
        sk=keys.TEMPLATE_STATUS,
        status=str(data.get("status")),
        data=data,
        created_at=clock.iso(clock.now()),
    ).save()


def template_status(name: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(keys.template(name), keys.TEMPLATE_STATUS, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def suppress(address: str, reason: str, at: str) -> None:
    """Put an address on the suppression list (by hash: the list holds no addresses)."""
    EngineItem(pk=keys.suppressed(address), sk=keys.ADDRESS, status=reason, created_at=at).save()


def suppression(address: str) -> str | None:
    """Why an address is suppressed (``hard_bounce``, ``complaint``), or None."""
    try:
        return EngineItem.get(keys.suppressed(address), keys.ADDRESS).status
    except EngineItem.DoesNotExist:
        return None


@dataclass(frozen=True)
class SendChecks:
    suppressed: str | None  # why the address is suppressed
    stopped: str | None  # why the campaign step was stopped
    paused: str | None  # why marketing sending is paused (asked only for marketing mail)


def send_checks(address: str | None, campaign_id: str, step_id: str, *, marketing: bool) -> SendChecks:
    """What the contact policy asks of this table before a send, in one BatchGetItem: the
    address's suppression, the step's stop and (for marketing mail) the marketing pause."""
    stop = (keys.campaign(campaign_id), keys.step_stop(step_id))
    suppression_key = (keys.suppressed(address), keys.ADDRESS) if address else None
    pause_key = (keys.CONTROL, keys.PAUSE) if marketing else None
    wanted = [k for k in (stop, suppression_key, pause_key) if k is not None]
    found = {(item.pk, item.sk): item for item in EngineItem.batch_get(wanted)}
    suppressed = found.get(suppression_key) if suppression_key else None
    stopped = found.get(stop)
    pause = found.get(pause_key) if pause_key else None
    return SendChecks(
        suppressed=suppressed.status if suppressed is not None else None,
        stopped=stopped.status if stopped is not None else None,
        paused=str((pause.data or {}).get("reason")) if pause is not None else None,
    )


def unsuppress(address: str) -> None:
    EngineItem(pk=keys.suppressed(address), sk=keys.ADDRESS).delete()


def stop_step(campaign_id: str, step_id: str, reason: str) -> None:
    EngineItem(pk=keys.campaign(campaign_id), sk=keys.step_stop(step_id), status=reason, created_at=clock.iso(clock.now())).save()


def step_stop(campaign_id: str, step_id: str) -> str | None:
    """Why sending of a campaign step was stopped, or None."""
    try:
        return EngineItem.get(keys.campaign(campaign_id), keys.step_stop(step_id)).status
    except EngineItem.DoesNotExist:
        return None


def resume_step(campaign_id: str, step_id: str) -> None:
    EngineItem(pk=keys.campaign(campaign_id), sk=keys.step_stop(step_id)).delete()


def count_reputation(tx: TransactWrite, kind: str) -> None:
    """Count a mail (or its bounce or complaint) in this hour's bucket, with the transaction that
    records it once. Buckets expire after two days."""
    now = clock.now()
    item = EngineItem(pk=keys.REPUTATION, sk=keys.reputation_bucket(hour_key(now), kind))
    tx.update(item, actions=[EngineItem.counter.add(1), EngineItem.expires_at.set(now + timedelta(days=2))])


def reputation_counts(hours: list[str]) -> dict[str, int]:
    """Sent, bounced and complained over the given hourly buckets (one Query)."""
    wanted = set(hours)
    totals = {"sent": 0, "bounced": 0, "complained": 0}
    for item in EngineItem.query(keys.REPUTATION, EngineItem.sk.between(min(hours), max(hours) + "#~")):
        hour, kind = keys.reputation_bucket_of(item.sk)
        if hour in wanted and kind in totals:
            totals[kind] += int(item.counter or 0)
    return totals


def marketing_pause() -> dict[str, Any] | None:
    """Why marketing sending is paused (reason, rates, since), or None while it runs."""
    try:
        item = EngineItem.get(keys.CONTROL, keys.PAUSE)
    except EngineItem.DoesNotExist:
        return None
    return {**(item.data or {}), "since": item.created_at}


def pause_marketing(reason: str, figures: dict[str, Any]) -> bool:
    """Pause marketing sending; False when it is paused already (the first reason stays)."""
    item = EngineItem(
        pk=keys.CONTROL, sk=keys.PAUSE, status="paused", data={"reason": reason, **figures}, created_at=clock.iso(clock.now())
    )
    return put_once(item, EngineItem.pk)


def resume_marketing() -> dict[str, Any] | None:
    """Lift the pause; the rates are measured afresh from now: what this hour's bucket holds
    already is the baseline later checks subtract (returns the pause lifted)."""
    held = marketing_pause()
    now = clock.now()
    hour = hour_key(now)
    baseline = {"hour": hour, **reputation_counts([hour])}
    EngineItem(pk=keys.CONTROL, sk=keys.RESUMED, data=baseline, created_at=clock.iso(now)).save()
    EngineItem(pk=keys.CONTROL, sk=keys.PAUSE).delete()
    return held


def reputation_baseline() -> dict[str, Any] | None:
    """The hour of the last resume and what its bucket held then."""
    try:
        return dict(EngineItem.get(keys.CONTROL, keys.RESUMED).data or {})
    except EngineItem.DoesNotExist:
        return None
