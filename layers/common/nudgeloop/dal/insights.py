"""CLV values and recommendation blocks in the read model (the recs table)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nudgeloop import clock
from nudgeloop.layout import CLV_MODEL, CLV_PREFIX

from . import keys
from .models import RecsItem


def save_clv(values: dict[str, dict[str, Any]], model: dict[str, Any]) -> None:
    """Per-customer CLV values and the fitted model, in the read model (BatchWriteItem, 25 a request)."""
    now = clock.iso(clock.now())
    with RecsItem.batch_write() as batch:
        for customer_id, data in values.items():
            batch.save(RecsItem(key=keys.clv(customer_id), data=data, updated_at=now))
        batch.save(RecsItem(key=CLV_MODEL, data=model, updated_at=now))


def clv_of(customer_id: str) -> dict[str, Any] | None:
    try:
        return dict(RecsItem.get(keys.clv(customer_id)).data or {})
    except RecsItem.DoesNotExist:
        return None


def all_clv() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every customer's latest CLV values (a scan of the read model's CLV items)."""
    for item in RecsItem.scan(RecsItem.key.startswith(CLV_PREFIX)):
        if item.key != CLV_MODEL:
            yield keys.customer_of_clv(item.key), dict(item.data or {})


def recs_get(keys: list[str]) -> dict[str, Any]:
    """One BatchGetItem for a customer's recommendation blocks (at most 100 keys)."""
    unique = list(dict.fromkeys(keys))[:100]
    return {item.key: item.data for item in RecsItem.batch_get(unique)} if unique else {}


def recs_replace(new: dict[str, Any], kinds: tuple[str, ...]) -> tuple[int, int]:
    """Write changed items and delete vanished ones of the ``kinds`` (key prefixes) ``new`` holds
    (BatchWriteItem, 25 per request); the table's other items (CLV values, audience memberships)
    are not touched. Returns (written, deleted)."""
    old = {item.key: item.data for item in RecsItem.scan() if item.key.startswith(kinds)}
    now = clock.iso(clock.now())
    changed = [k for k, v in new.items() if old.get(k) != v]
    gone = [k for k in old if k not in new]
    with RecsItem.batch_write() as batch:
        for key in changed:
            batch.save(RecsItem(key=key, data=new[key], updated_at=now))
        for key in gone:
            batch.delete(RecsItem(key=key))
    return len(changed), len(gone)
