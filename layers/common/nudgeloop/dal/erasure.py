"""The tables' side of an erasure (``services/erasure``): the erasure's own record, and deleting
by key what is kept of one person, found from what is keyed by them (no table is scanned).

What the engine table keeps of a person (``keys``): their ledger (``SEND#<id>``) and, for each
mail in it, the message record, the campaign's sent-mail row, the feedback items and the voucher;
their fired date occasions (``FIRED#<id>``); in each campaign's partition their journey entries
and entry claims (execution names start with the campaign and the customer's digest), their last
entry and their attributed orders; their journeys' timers and pool claims; whose their referral
code is. The recs table keeps their CLV and audience memberships; the audit table the entries
about them (``by_customer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.models import Model

from nudgeloop.domain import audience_memberships, ses_events
from nudgeloop.domain.erasure import executions_prefix
from nudgeloop.domain.idempotency import ledger_key_parts
from nudgeloop.domain.sends import LedgerEntry

from . import broadcasts, keys
from .models import AuditItem, CustomerModel, EngineItem, EventModel, RecsItem
from .writes import put_once

ERASURE_SK = "ERASURE"
_FEEDBACK_KINDS = tuple(sorted({t.kind for t in ses_events.VOCABULARY if t.kind}))


# ------------------------------------------------------------------ the erasure's record


def record(erasure_id: str) -> dict[str, Any] | None:
    try:
        return dict(EngineItem.get(keys.erasure(erasure_id), ERASURE_SK, consistent_read=True).data or {})
    except EngineItem.DoesNotExist:
        return None


def create_record(erasure_id: str, data: dict[str, Any]) -> bool:
    """The record of a new erasure; False when one exists (the person was asked to be erased before)."""
    item = EngineItem(
        pk=keys.erasure(erasure_id), sk=ERASURE_SK, status=data["status"], data=data, created_at=data["requested_at"]
    )
    return put_once(item, EngineItem.pk)


def save_record(erasure_id: str, data: dict[str, Any], *, awaiting_snapshot: bool = False) -> None:
    """The record as it stands; one awaiting the snapshot's pass waits on the ``by_due`` index."""
    EngineItem(
        pk=keys.erasure(erasure_id),
        sk=ERASURE_SK,
        status=data["status"],
        data=data,
        created_at=data["requested_at"],
        due_shard=keys.ERASURE_SHARD if awaiting_snapshot else None,
        # a snapshot exported after the first pass is the first without the person
        due_at=data["first_pass_at"] if awaiting_snapshot else None,
    ).save()


def awaiting_snapshot() -> list[tuple[str, str, dict[str, Any]]]:
    """Erasures whose second pass is still to be done: (id, when the first pass ended, record).
    A DynamoDB export started at or after that moment does not hold the person."""
    items = EngineItem.by_due.query(keys.ERASURE_SHARD)
    return [(keys.erasure_of(i.pk), str(i.due_at), dict(i.data or {})) for i in items]


# ------------------------------------------------------------------ finding what is kept


def engine_keys(
    customer_id: str, ledger: list[LedgerEntry], campaigns: Iterable[str], orders: Iterable[str]
) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    """The engine table's items of the person (their journeys' timers among them), and the pool
    codes their mails took (``(pool, code)``: kept, as used codes, without whom they went to)."""
    found: set[tuple[str, str]] = {(keys.sends(customer_id), e.key) for e in ledger}
    executions: set[str] = set()
    pool_codes: list[tuple[str, str]] = []
    for entry in ledger:
        data = entry.data
        campaign_id, step_id, execution = ledger_key_parts(entry.key)
        if execution:
            executions.add(execution)
        message_id = data.get("message_id")
        if message_id:
            found.add((keys.message(message_id), keys.MESSAGE))
            if data.get("campaign_id") and data.get("sent_at"):
                part = keys.campaign_mail_part(message_id)
                found.add((keys.campaign_mails(data["campaign_id"], part), keys.campaign_mail(data["sent_at"], message_id)))
            for kind in _FEEDBACK_KINDS:
                found.add((keys.campaign(campaign_id), keys.feedback(step_id, kind, message_id)))
        if data.get("voucher"):
            found.add((keys.voucher(str(data["voucher"])), keys.VOUCHER_SK))
    for campaign_id in set(campaigns):
        partition = keys.campaign(campaign_id)
        prefix = executions_prefix(campaign_id, customer_id)
        for start in (keys.entry(prefix), keys.claim(customer_id, prefix, "occurrence")):
            for item in EngineItem.query(partition, EngineItem.sk.startswith(start), attributes_to_get=["pk", "sk"]):
                found.add((item.pk, item.sk))
                executions.add(item.sk.split("#", 1)[1])
        found.add((partition, keys.claim(customer_id, "", "customer")))
    for order_id in set(orders):
        found.add((keys.conversion(customer_id, order_id), keys.CONVERSION))
    for execution in executions:
        for item in EngineItem.query(keys.timer(execution), attributes_to_get=["pk", "sk"]):
            found.add((item.pk, item.sk))
    for entry in ledger:
        _, step_id, execution = ledger_key_parts(entry.key)
        if not execution:
            continue
        claim_key = (keys.pool_claim(execution, step_id), keys.POOL_CLAIM_SK)
        try:
            claim = EngineItem.get(*claim_key)
        except EngineItem.DoesNotExist:
            continue
        found.add(claim_key)
        pool_codes.append((str((claim.data or {}).get("pool")), str((claim.data or {}).get("code"))))
    for item in EngineItem.query(keys.fired(customer_id), attributes_to_get=["pk", "sk"]):
        found.add((item.pk, item.sk))
    return found, pool_codes


# ------------------------------------------------------------------ deleting


def _delete_all(model: type[Model], items: Iterable[Model]) -> int:
    n = 0
    with model.batch_write() as batch:
        for item in items:
            batch.delete(item)
            n += 1
    return n


def delete_engine(found: set[tuple[str, str]]) -> int:
    """Delete the items (BatchWriteItem; a key that holds nothing deletes nothing)."""
    return _delete_all(EngineItem, (EngineItem(pk=pk, sk=sk) for pk, sk in sorted(found)))


def forget_pool_codes(pool_codes: list[tuple[str, str]]) -> int:
    """A used pool code stays used, without whom it went to."""
    for pool, code in pool_codes:
        EngineItem(pk=keys.voucher_pool(pool), sk=code).update(actions=[EngineItem.data.set({"erased": True})])
    return len(pool_codes)


def forget_referral_code(code: str | None) -> int:
    if not code:
        return 0
    EngineItem(pk=keys.referral(code), sk=keys.REFERRAL_SK).delete()
    return 1


def remove_from_broadcasts(customer_id: str) -> int:
    """Take the person out of the batches of the broadcasts scheduled or under way (finished
    broadcasts' batches expire: ``broadcasts.BATCH_KEEP``)."""
    removed = 0
    for broadcast_id in broadcasts.active():
        for batch in broadcasts.batches(broadcast_id):
            members = list((batch.data or {}).get("customers") or [])
            if customer_id in members:
                batch.data = {**(batch.data or {}), "customers": [m for m in members if m != customer_id]}
                batch.save()
                removed += 1
    return removed


def delete_events(customer_id: str) -> int:
    return _delete_all(EventModel, EventModel.query(customer_id, attributes_to_get=["customer_id", "event_id"]))


def delete_customer(customer_id: str) -> int:
    """The customer item, whatever version it is at (its REMOVE leaves the per-step counts)."""
    try:
        CustomerModel.get(customer_id, consistent_read=True, attributes_to_get=["customer_id"])
    except CustomerModel.DoesNotExist:
        return 0
    CustomerModel(customer_id).delete(add_version_condition=False)
    return 1


def delete_recs(customer_id: str, audience_ids: Iterable[str]) -> int:
    found = [keys.clv(customer_id), *(audience_memberships.member_key(a, customer_id) for a in audience_ids)]
    return _delete_all(RecsItem, (RecsItem(key=k) for k in found))


def delete_audit(customer_id: str) -> int:
    """The audit entries about the person (the erasure's own entry names no one)."""
    items = AuditItem.by_customer.query(customer_id)
    return _delete_all(AuditItem, (AuditItem(object=i.object, at=i.at) for i in items))
