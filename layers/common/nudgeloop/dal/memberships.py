"""Memberships of saved audiences in the recs table (keys: ``domain/audience_memberships``)."""

from __future__ import annotations

from datetime import datetime

from nudgeloop import clock
from nudgeloop.domain import audience_memberships as rules

from . import writes
from .models import RecsItem


def enter(audience_id: str, customer_id: str, run: str, now: datetime) -> bool:
    """The membership written if absent; False if it was there (applied before)."""
    item = RecsItem(key=rules.member_key(audience_id, customer_id), data={"since": clock.iso(now), "run": run})
    item.updated_at = clock.iso(now)
    return writes.put_once(item, RecsItem.key)


def leave(audience_id: str, customer_id: str) -> None:
    RecsItem(key=rules.member_key(audience_id, customer_id)).delete()


def is_member(audience_id: str, customer_id: str) -> bool:
    """Whether the customer is a member of the saved audience, as of its latest evaluation."""
    return _exists(rules.member_key(audience_id, customer_id))


def evaluated_before(audience_id: str) -> bool:
    return _exists(rules.state_key(audience_id))


def record_evaluation(audience_id: str, run: str, evaluated_at: str) -> None:
    RecsItem(key=rules.state_key(audience_id), data={"run": run, "evaluated_at": evaluated_at}).save()


def _exists(key: str) -> bool:
    try:
        RecsItem.get(key)
        return True
    except RecsItem.DoesNotExist:
        return False
