"""The audit trail's table (``domain/audit.py``): one item per change, keyed by the object and
the moment; an index by customer for the changes that concern a person."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.domain import audit as rules

from .models import AuditItem


def record(
    kind: str,
    object_id: str,
    action: str,
    actor: str,
    details: dict[str, Any] | None = None,
    customer_id: str | None = None,
    *,
    at: datetime | None = None,
    entry_id: str | None = None,
) -> None:
    """One entry; ``at`` (default now) and an ``entry_id`` derived from what is recorded make a
    retried recording write the same entry again instead of a second one."""
    now = at or clock.now()
    AuditItem(
        object=rules.object_name(kind, object_id),
        at=f"{clock.iso(now)}#{entry_id or uuid.uuid4().hex[:12]}",  # two changes of one moment are two entries
        action=action,
        actor=actor,
        details=details or {},
        customer_id=customer_id,
        expires_at=now + timedelta(days=rules.KEEP_DAYS),
    ).save()


def _view(item: AuditItem) -> dict[str, Any]:
    shown = {"object": item.object, "at": item.at.split("#", 1)[0], "action": item.action, "actor": item.actor}
    if item.customer_id:
        shown["customer_id"] = item.customer_id
    if item.details:
        shown["details"] = item.details
    return shown


def page(
    *, object_name: str | None = None, customer_id: str | None = None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Entries of one object or one customer, newest first, from before ``after`` (the ``at``
    sort key of the last entry of the previous page); and the position of the next page."""
    kwargs: dict[str, Any] = {"scan_index_forward": False, "limit": limit}
    if after is not None:
        kwargs["range_key_condition"] = AuditItem.at < after
    if object_name is not None:
        found = list(AuditItem.query(object_name, **kwargs))
    else:
        found = list(AuditItem.by_customer.query(str(customer_id), **kwargs))
    return [_view(i) for i in found], (found[-1].at if len(found) == limit else None)
