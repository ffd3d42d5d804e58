"""Identity links (engine table): the customer an anonymous visitor turned out to be, stored once."""

from __future__ import annotations

from collections.abc import Iterable

from nudgeloop import clock

from . import keys
from .models import EngineItem
from .writes import put_once


def link(anonymous_customer: str, customer_id: str) -> str:
    """Link ``anonymous_customer`` to ``customer_id`` unless it is linked already (the first link
    stands: a visitor is one person); returns the customer it is linked to."""
    item = EngineItem(
        pk=keys.identity(anonymous_customer),
        sk=keys.IDENTITY_SK,
        data={"customer_id": customer_id},
        created_at=clock.iso(clock.now()),
    )
    if put_once(item, EngineItem.pk):
        return customer_id
    return linked_to(anonymous_customer) or customer_id


def linked_to(anonymous_customer: str) -> str | None:
    try:
        item = EngineItem.get(keys.identity(anonymous_customer), keys.IDENTITY_SK, consistent_read=True)
    except EngineItem.DoesNotExist:
        return None
    return str((item.data or {}).get("customer_id") or "") or None


def links(anonymous_customers: Iterable[str]) -> dict[str, str]:
    """The customers of those anonymous visitors that are linked (BatchGetItem, 100 keys a request)."""
    wanted = sorted(set(anonymous_customers))
    if not wanted:
        return {}
    found: dict[str, str] = {}
    for item in EngineItem.batch_get([(keys.identity(a), keys.IDENTITY_SK) for a in wanted], consistent_read=True):
        customer = (item.data or {}).get("customer_id")
        if customer:
            found[keys.anonymous_of_identity(item.pk)] = str(customer)
    return found


def forget(anonymous_customer: str) -> None:
    """Delete a link (erasure of the customer it names)."""
    EngineItem(pk=keys.identity(anonymous_customer), sk=keys.IDENTITY_SK).delete()
