"""Per campaign: entries and their claims, feedback, conversions and the counters the
analytics read, each counted exactly once with the write that records it (``writes.once``).
What counts where is the caller's decision; this module keeps the counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain.idempotency import EntryClaim
from nudgeloop.domain.journey_contract import JourneyEntry

from . import keys
from .deliverability import count_reputation
from .models import EngineItem
from .writes import conditional_failed, once, update_if


def record_feedback(
    campaign_id: str, step_id: str, kind: str, message_id: str, at: str, data: dict[str, Any], *, reputation: bool = False
) -> bool:
    """Store one SES feedback event against its campaign and count it, exactly once (with the
    sending reputation's hourly counters too when ``reputation``)."""
    item = EngineItem(
        pk=keys.campaign(campaign_id),
        sk=keys.feedback(step_id, kind, message_id),
        status=kind,
        data={**data, "at": at},
        created_at=clock.iso(clock.now()),
    )

    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=EngineItem.pk.does_not_exist())
        count(tx, campaign_id, step_id, kind)
        if reputation:
            count_reputation(tx, kind)

    return once(write)


def count(tx: TransactWrite, campaign_id: str, step_id: str, kind: str, by: int = 1) -> None:
    """Add ``by`` to a campaign step's counter of ``kind``, in the transaction that records why."""
    counter = EngineItem(pk=keys.campaign(campaign_id), sk=keys.stats(step_id, kind))
    tx.update(counter, actions=[EngineItem.counter.add(by)])


def claim_entry(campaign_id: str, customer_id: str, execution: str, now: datetime, claim: EntryClaim) -> bool:
    """Whether this trigger may start ``execution``: ``claim`` (the campaign's re-entry rule,
    ``domain/idempotency.entry_claim``) taken with one conditional write.
    A claim whose journey has not been started yet answers True again, so a trigger retried
    after a crash still starts it; once :func:`mark_entry_started`, it answers False."""
    item = EngineItem(pk=keys.campaign(campaign_id), sk=keys.claim(customer_id, execution, claim.scope))
    condition = EngineItem.created_at.does_not_exist()
    if claim.reclaimable_before is not None:
        condition = condition | (EngineItem.created_at <= clock.iso(claim.reclaimable_before))
    expires = claim.expires
    try:
        item.update(
            actions=[
                EngineItem.created_at.set(clock.iso(now)),
                EngineItem.status.set(execution),
                EngineItem.data.set({"started": False}),
                *([EngineItem.expires_at.set(expires)] if expires else []),
            ],
            condition=condition,
        )
    except UpdateError as exc:
        if not conditional_failed(exc):
            raise
        held = EngineItem.get(item.pk, item.sk, consistent_read=True)
        return held.status == execution and not (held.data or {}).get("started")
    return True


def mark_entry_started(campaign_id: str, customer_id: str, execution: str, claim: EntryClaim) -> None:
    # False: a later entry claimed it meanwhile, nothing to mark
    update_if(
        EngineItem(pk=keys.campaign(campaign_id), sk=keys.claim(customer_id, execution, claim.scope)),
        [EngineItem.data.set({"started": True})],
        EngineItem.status == execution,
    )


def record_entry(
    campaign_id: str, execution: str, outcome: str, at: str, customer_id: str = "", window_closes: str | None = None
) -> bool:
    """One item per journey entry (``entered``, ``holdout``, ``not_in_audience``), counted once;
    False when this execution's entry is recorded already. Entered and holdout entries wait on
    the ``by_due`` index until ``window_closes``, when :func:`evaluate_entry` compares them."""
    compared = window_closes is not None and outcome in ("entered", "holdout")
    item = EngineItem(
        pk=keys.campaign(campaign_id),
        sk=keys.entry(execution),
        status=outcome,
        created_at=at,
        data={"customer_id": customer_id},
        due_shard=keys.UPLIFT_SHARD if compared else None,
        due_at=window_closes if compared else None,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=EngineItem.sk.does_not_exist())
        count(tx, campaign_id, keys.ENTRIES, outcome)

    return once(write)


def entries_due(until: datetime) -> Iterator[JourneyEntry]:
    """Entries whose attribution window has closed and that are not compared yet."""
    for item in EngineItem.by_due.query(keys.UPLIFT_SHARD, EngineItem.due_at <= clock.iso(until)):
        yield JourneyEntry(
            campaign_id=keys.campaign_of(item.pk),
            execution=keys.execution_of_entry(item.sk),
            outcome=str(item.status),
            customer_id=str((item.data or {}).get("customer_id", "")),
            entered_at=str(item.created_at),
        )


def evaluate_entry(entry: JourneyEntry, group: str, converted: bool) -> bool:
    """Count an entry in ``group`` (``treated`` or ``control``) and whether the customer ordered
    within the window, once: the entry leaves the index in the same transaction."""
    campaign_id = entry.campaign_id
    item = EngineItem(pk=keys.campaign(campaign_id), sk=keys.entry(entry.execution))

    def write(tx: TransactWrite) -> None:
        tx.update(
            item,
            actions=[
                EngineItem.due_shard.remove(),
                EngineItem.due_at.remove(),
                EngineItem.data.set({"customer_id": entry.customer_id, "converted": converted}),
            ],
            condition=EngineItem.due_shard.exists(),
        )
        count(tx, campaign_id, keys.UPLIFT, group)
        if converted:
            count(tx, campaign_id, keys.UPLIFT, f"{group}_converted")

    return once(write)


def campaign_entries(campaign_id: str) -> dict[str, int]:
    """Entries of a campaign by outcome: ``{"entered": 90, "holdout": 10}``."""
    return campaign_stats(campaign_id).get(keys.ENTRIES, {})


def record_conversion(
    order_id: str, customer_id: str, campaign_id: str, step_id: str, cents: int, currency: str, at: str
) -> bool:
    """An order attributed to a campaign step, with its revenue (minor units), once per order
    (order ids are the customer's: keyed by both)."""
    item = EngineItem(
        pk=keys.conversion(customer_id, order_id),
        sk=keys.CONVERSION,
        status="converted",
        data={"customer_id": customer_id, "campaign_id": campaign_id, "step_id": step_id, "cents": cents, "currency": currency},
        created_at=at,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=EngineItem.pk.does_not_exist())
        count(tx, campaign_id, step_id, "converted")
        count(tx, campaign_id, step_id, f"revenue:{currency}", cents)

    return once(write)


def reverse_conversion(customer_id: str, order_id: str) -> bool:
    """A refund of an attributed order takes its conversion and revenue back, once."""
    try:
        item = EngineItem.get(keys.conversion(customer_id, order_id), keys.CONVERSION, consistent_read=True)
    except EngineItem.DoesNotExist:
        return False
    data = item.data or {}

    def write(tx: TransactWrite) -> None:
        tx.update(item, actions=[EngineItem.status.set("refunded")], condition=EngineItem.status == "converted")
        count(tx, data["campaign_id"], data["step_id"], "converted", -1)
        count(tx, data["campaign_id"], data["step_id"], f"revenue:{data['currency']}", -int(data["cents"]))

    return once(write)


def campaign_stats(campaign_id: str) -> dict[str, dict[str, int]]:
    """Per step, how many mails were sent and how many of each feedback kind came back."""
    stats: dict[str, dict[str, int]] = {}
    for item in EngineItem.query(keys.campaign(campaign_id), EngineItem.sk.startswith(keys.STATS_PREFIX)):
        step_id, kind = keys.stats_of(item.sk)
        stats.setdefault(step_id, {})[kind] = int(item.counter or 0)
    return stats
