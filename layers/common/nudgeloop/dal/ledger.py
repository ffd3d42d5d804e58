"""The send ledger: one item per journey step and customer, reserved before SES is called and
completed after, so that a step is never sent twice; reservations left open fall into doubt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from nudgeloop import clock
from nudgeloop.domain.sends import LedgerEntry
from nudgeloop.layout import SENT_MAIL_DAYS

from . import keys
from .campaign_stats import count
from .deliverability import count_reputation
from .models import EngineItem
from .writes import once, put_once, transaction, update_if


def _entry(item: EngineItem) -> LedgerEntry:
    return LedgerEntry(keys.customer_of_sends(item.pk), item.sk, str(item.status), dict(item.data or {}), item.created_at)


def _stored(entry: LedgerEntry) -> EngineItem:
    """The item behind an entry, for an update or delete (keys and the data as read)."""
    return EngineItem(pk=keys.sends(entry.customer_id), sk=entry.key, data=entry.data)


def reserve_send(customer_id: str, ledger_key: str, data: dict[str, Any], in_doubt_after_s: int = 900) -> LedgerEntry | None:
    """Reserve the right to send; returns None when a reservation exists (sent or in doubt).

    The reservation sits on the ``by_due`` index until it is completed; one still there after
    ``in_doubt_after_s`` is in doubt (:func:`in_doubt`): SES may or may not have sent it."""
    now = clock.now()
    item = EngineItem(
        pk=keys.sends(customer_id),
        sk=ledger_key,
        status="reserved",
        due_shard=keys.IN_DOUBT_SHARD,
        due_at=clock.iso(now + timedelta(seconds=in_doubt_after_s)),
        data=data,
        created_at=clock.iso(now),
    )
    return _entry(item) if put_once(item, EngineItem.pk) else None


def record_skip(customer_id: str, ledger_key: str, data: dict[str, Any], kind: str) -> bool:
    """A send step that was not sent (``suppressed``, ``no_consent``, ``no_address``,
    ``stopped``): kept in the ledger and counted for the step, exactly once per journey."""
    item = EngineItem(
        pk=keys.sends(customer_id), sk=ledger_key, status=f"skipped:{kind}", data=data, created_at=clock.iso(clock.now())
    )

    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=EngineItem.pk.does_not_exist())
        count(tx, data["campaign_id"], data["step_id"], kind)

    return once(write)


def release(reservation: LedgerEntry) -> None:
    """Give a reservation back (SES was not called: throttled): the step may be sent later."""
    _stored(reservation).delete()


def ledger_entry(customer_id: str, ledger_key: str) -> LedgerEntry | None:
    try:
        return _entry(EngineItem.get(keys.sends(customer_id), ledger_key, consistent_read=True))
    except EngineItem.DoesNotExist:
        return None


def complete_send(
    reservation: LedgerEntry, status: str, data: dict[str, Any], message_id: str | None, *, reputation: bool = False
) -> None:
    """Close a reservation with its outcome, counted for its step in the same transaction; a
    sent one (``message_id``) records what the message id was sent for and, with
    ``reputation``, counts in the sending reputation's hourly bucket."""
    item = _stored(reservation)
    actions: list[Action] = [
        EngineItem.status.set(status),
        EngineItem.data.set({**reservation.data, **data}),
        EngineItem.due_shard.remove(),
        EngineItem.due_at.remove(),
    ]
    if message_id is None:  # capped or failed: counted with the completion, once
        with transaction() as tx:
            tx.update(item, actions=actions)
            if "campaign_id" in reservation.data:
                count(tx, reservation.data["campaign_id"], reservation.data["step_id"], status)
        return
    with transaction() as tx:
        tx.update(item, actions=actions)
        count(tx, data["campaign_id"], data["step_id"], "sent")
        if reputation:
            count_reputation(tx, "sent")
        tx.save(
            EngineItem(
                pk=keys.message(message_id),
                sk=keys.MESSAGE,
                status="sent",
                data={k: data[k] for k in ("customer_id", "campaign_id", "step_id") if k in data},
                created_at=clock.iso(clock.now()),
            )
        )
        if "campaign_id" in data and "sent_at" in data:  # the campaign's sent mails, for GET .../mails
            tx.save(
                EngineItem(
                    pk=keys.campaign_mails(data["campaign_id"], keys.campaign_mail_part(message_id)),
                    sk=keys.campaign_mail(data["sent_at"], message_id),
                    status="sent",
                    data={k: data[k] for k in ("customer_id", "step_id", "archive_key") if k in data},
                    expires_at=clock.now() + MAIL_INDEX_KEEP,
                )
            )


MAIL_INDEX_KEEP = timedelta(days=SENT_MAIL_DAYS)


def campaign_mails(
    campaign_id: str, limit: int, before: tuple[str, str] | None
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    """A campaign's sent mails, newest first: ``limit`` of those sent before ``before`` (a
    ``(sent_at, message_id)`` position), and the position to go on from (None at the end). One
    Query per index partition, merged."""
    found: list[tuple[str, dict[str, Any]]] = []
    start = keys.campaign_mail(*before) if before else None
    for part in range(keys.MAIL_SHARDS):
        condition = EngineItem.sk < start if start else None
        for item in EngineItem.query(
            keys.campaign_mails(campaign_id, part), range_key_condition=condition, scan_index_forward=False, limit=limit
        ):
            sent_at, message_id = keys.campaign_mail_of(item.sk)
            found.append((item.sk, {"message_id": message_id, "sent_at": sent_at, **(item.data or {})}))
    found.sort(key=lambda pair: pair[0], reverse=True)
    page = found[:limit]
    more = len(found) > limit
    return [row for _, row in page], (keys.campaign_mail_of(page[-1][0]) if more and page else None)


def in_doubt(until: datetime) -> list[LedgerEntry]:
    """Reservations neither completed nor released by ``until``: SES may have sent them. They
    are never retried blindly; an operator settles each (:func:`settle_in_doubt`)."""
    return [_entry(i) for i in EngineItem.by_due.query(keys.IN_DOUBT_SHARD, EngineItem.due_at <= clock.iso(until))]


def next_in_doubt_at(after: datetime) -> datetime | None:
    """The next moment after ``after`` an open reservation falls into doubt (the local runtime
    wakes the sweep then, which reports it)."""
    first = next(iter(EngineItem.by_due.query(keys.IN_DOUBT_SHARD, EngineItem.due_at > clock.iso(after), limit=1)), None)
    return clock.parse_iso(first.due_at) if first is not None and first.due_at else None


def settle_in_doubt(customer_id: str, ledger_key: str, sent: bool, note: str) -> bool:
    """Record what an operator found out about an in-doubt reservation (sent or not sent).
    Either way it stays in the ledger, so the step is never sent to this person again."""
    item = ledger_entry(customer_id, ledger_key)
    if item is None or item.status != "reserved":
        return False
    complete_send(item, "sent_unconfirmed" if sent else "not_sent", {"settled": note}, None)
    return True


def take_send_slot(now: datetime, per_second: int) -> bool:
    """One of ``per_second`` sends in the current second (shared by all concurrent senders)."""
    second = now.replace(microsecond=0)
    return update_if(
        EngineItem(pk=keys.SEND_RATE, sk=clock.iso(second)),
        [EngineItem.counter.add(1), EngineItem.expires_at.set(second + timedelta(hours=1))],
        EngineItem.counter.does_not_exist() | (EngineItem.counter < per_second),
    )


def message_record(message_id: str) -> dict[str, Any] | None:
    try:
        item = EngineItem.get(keys.message(message_id), keys.MESSAGE)
    except EngineItem.DoesNotExist:
        return None
    return dict(item.data or {})


def ledger(customer_id: str) -> list[LedgerEntry]:
    """Every send and skip of a customer, in ledger-key order."""
    return [_entry(i) for i in EngineItem.query(keys.sends(customer_id))]
