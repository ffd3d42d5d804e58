"""Capacity meters for the local runtime: the DynamoDB write units our requests cost
(``WriteMeter``) and the read units (``read_meter``).

Installed on moto's DynamoDB backend, so it sees every write whichever client made it (boto3,
PynamoDB). Charged as DynamoDB charges on-demand writes:

- PutItem / UpdateItem: the larger of the item's size before and after, in 1 KB units (rounded up);
  DeleteItem: the deleted item's size. A write whose condition fails is still charged.
- Every secondary index (GSI or LSI) whose entry the write adds, changes or removes: one more
  write of the projected entry's size; an index key change is a delete plus a put.
- Inside TransactWriteItems every unit of the items counts twice (prepare and commit); index
  upkeep is charged once, as AWS propagates it outside the transaction.
- BatchWriteItem: each item as its own put or delete; the largest batch is recorded.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

KB = 1024


def _size(attrs: dict[str, Any]) -> int:
    from moto.dynamodb.models.utilities import bytesize

    return sum(bytesize(name) + value.size() for name, value in attrs.items())


def _units(size: int) -> int:
    return max(1, math.ceil(size / KB))


@dataclass
class WriteMeter:
    units: Counter[str] = field(default_factory=Counter)  # per table (and table/index)
    requests: Counter[str] = field(default_factory=Counter)  # per operation
    largest_batch: int = 0
    _in_transaction: bool = False

    def total(self) -> float:
        return float(sum(self.units.values()))

    def reset(self) -> None:
        self.units.clear()
        self.requests.clear()
        self.largest_batch = 0

    # ------------------------------------------------------------------ charging

    def _projected(self, table: Any, index: Any, attrs: dict[str, Any] | None) -> dict[str, Any] | None:
        if attrs is None:
            return None
        keys = [k["AttributeName"] for k in index.schema]
        if any(k not in attrs for k in keys):
            return None  # sparse index: the item has no entry
        table_keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        projection = index.projection or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return dict(attrs)
        wanted = set(keys) | set(table_keys)
        if kind == "INCLUDE":
            wanted |= set(projection.get("NonKeyAttributes", []))
        return {k: v for k, v in attrs.items() if k in wanted}

    def charge(self, table: Any, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        factor = 2 if self._in_transaction else 1
        sizes = [_size(a) for a in (before, after) if a is not None]
        self.units[table.name] += factor * _units(max(sizes) if sizes else 0)
        for index in [*table.global_indexes, *table.indexes]:
            old, new = self._projected(table, index, before), self._projected(table, index, after)
            if old == new:
                continue
            key_names = [k["AttributeName"] for k in index.schema]
            moved = old is not None and new is not None and any(old[k] != new[k] for k in key_names)
            writes = [e for e in ((old,) if moved or new is None else ()) + ((new,) if new is not None else ()) if e]
            for entry in writes:
                self.units[f"{table.name}/{index.name}"] += _units(_size(entry))

    # ------------------------------------------------------------------ installing

    @contextmanager
    def installed(self) -> Any:
        from moto.dynamodb.models import DynamoDBBackend

        meter = self
        originals = {
            name: getattr(DynamoDBBackend, name) for name in ("put_item", "update_item", "delete_item", "transact_write_items")
        }

        def current(backend: Any, table: Any, key_attrs: dict[str, Any]) -> dict[str, Any] | None:
            hash_value = key_attrs[table.hash_key_attr]
            range_value = key_attrs.get(table.range_key_attr) if table.range_key_attr else None
            item = table.get_item(hash_value, range_value)
            return dict(item.attrs) if item is not None else None

        def _attrs(table: Any, raw: dict[str, Any]) -> dict[str, Any]:
            from moto.dynamodb.models.dynamo_type import DynamoType

            return {k: DynamoType(v) for k, v in raw.items()}

        def metered(name: str, label: str, result_attrs: bool) -> Any:
            """A backend write that charges the item before and after (failed conditions too)."""

            def write(backend: Any, table_name: str, attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
                table = backend.get_table(table_name)
                sent = _attrs(table, attrs)  # the whole item (put) or its key (update, delete)
                before = current(backend, table, sent)
                meter.requests[label if not meter._in_transaction else "Transact" + label.removesuffix("Item")] += 1
                try:
                    result = originals[name](backend, table_name, attrs, *args, **kwargs)
                except Exception:  # a failed condition is charged too
                    meter.charge(table, before, sent if name == "put_item" else before or sent)
                    raise
                meter.charge(table, before, dict(result.attrs) if result_attrs and result is not None else None)
                return result

            return write

        put_item = metered("put_item", "PutItem", True)
        update_item = metered("update_item", "UpdateItem", True)
        delete_item = metered("delete_item", "DeleteItem", False)

        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
            meter.requests["TransactWriteItems"] += 1
            for op in transact_items:  # a ConditionCheck is charged like a write of the item
                if "ConditionCheck" in op:
                    check = op["ConditionCheck"]
                    table = backend.get_table(check["TableName"])
                    held = current(backend, table, _attrs(table, check["Key"]))
                    meter.units[table.name] += 2 * _units(_size(held) if held else 0)
            meter._in_transaction = True
            try:
                return originals["transact_write_items"](backend, transact_items)
            finally:
                meter._in_transaction = False

        from moto.dynamodb.responses import DynamoHandler

        original_batch = DynamoHandler.batch_write_item

        def batch_write_item(handler: Any) -> Any:
            request = handler.body.get("RequestItems", {})
            size = sum(len(v) for v in request.values())
            meter.largest_batch = max(meter.largest_batch, size)
            meter.requests["BatchWriteItem"] += 1
            return original_batch(handler)

        DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
        DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
        DynamoDBBackend.delete_item = delete_item  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign,assignment]
        DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(DynamoDBBackend, name, original)
            DynamoHandler.batch_write_item = original_batch  # type: ignore[method-assign]


KB4 = 4 * KB


def read_meter(charge: Callable[[float], None]) -> Callable[[], None]:
    """Charge every read of moto's DynamoDB backend as on-demand bills it, to ``charge``: a
    Query or Scan for every item it evaluates (before its filter), per call in 4 KB, half for an
    eventually consistent one; GetItem (BatchGetItem's too) per item, strongly consistent (the
    backend is not told: an upper bound). Returns what takes the meter out again."""
    from moto.dynamodb.models import DynamoDBBackend

    get_item, query, scan = DynamoDBBackend.get_item, DynamoDBBackend.query, DynamoDBBackend.scan

    def metered_get(backend: Any, table_name: str, keys: Any, projection_expressions: Any = None) -> Any:
        item = get_item(backend, table_name, keys, projection_expressions)
        whole = get_item(backend, table_name, keys) if item is not None else None  # charged whole, projected or not
        charge(max(1, -(-(_size(whole.attrs) if whole is not None else 0) // KB4)))
        return item

    def metered(read: Any, projection: str) -> Any:
        names = read.__code__.co_varnames[1 : read.__code__.co_argcount]

        def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
            bound = {**dict(zip(names, args, strict=False)), **kwargs}
            result = read(backend, **bound)
            items, _count, _last = read(backend, **{**bound, projection: None, "filter_expression": None})
            size = sum(_size(i.attrs) for i in items)
            charge(max(1, -(-size // KB4)) * (1 if bound.get("consistent_read") else 0.5))
            return result

        return run

    DynamoDBBackend.get_item = metered_get  # type: ignore[method-assign,assignment]
    DynamoDBBackend.query = metered(query, "projection_expressions")  # type: ignore[method-assign]
    DynamoDBBackend.scan = metered(scan, "projection_expression")  # type: ignore[method-assign]

    def restore() -> None:
        DynamoDBBackend.get_item, DynamoDBBackend.query, DynamoDBBackend.scan = get_item, query, scan  # type: ignore[method-assign]

    return restore
