"""Where moto's DynamoDB is slow for reasons DynamoDB is not, answered as DynamoDB answers.

Every change to moto's DynamoDB behaviour for speed lives here, each with a test in
``tests/integration/emulator_dynamodb/`` that compares its answers with moto's own
(ordering, pagination, conditions, index projections, rollback):

- **Queries read one partition.** moto's ``Table.query`` sorts every item of the table
  (``all_items``) on every Query, then keeps the partition asked for; DynamoDB reads the
  partition. Here a Query of the table sees only its partition's items, and a Query of an
  index only the items whose index key matches, before moto's own sorting, paging, key
  conditions, filters and projections run on them unchanged. A table Query without a
  projection does not deep-copy what it found (moto copies so that projecting cannot change
  stored items; such a Query only reads them), nor does a Scan of a table without one (moto
  deep-copies every item it reads, before the filter drops most of them).
- **Attribute values are serialized as they are** (``dynamodb_values.py``).
- **An expression is parsed once.** Condition, filter and update expressions are parsed once
  per expression (``dynamodb_expressions.py``).
- **Transactions roll back what they touched.** moto deep-copies every table a transaction
  touches, before running it, to roll back on failure: O(table) per transaction. DynamoDB
  has no such cost. Here the items the transaction names (and the table's stream) are
  remembered before, and restored on failure, which is all a rollback changes.

``install()`` is idempotent and applied by the local runtime before any table exists.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from . import dynamodb_expressions, dynamodb_values
from .patching import Replacements

_candidates = threading.local()  # the items moto's query may look at, set for one Query


def _moto_ran_as_shipped() -> None:
    _IndexEntries.generation += 1  # what moto wrote meanwhile did not update our entries


_replacements = Replacements(restored=_moto_ran_as_shipped)
_replace = _replacements.replace
as_shipped = _replacements.as_shipped


def install() -> None:
    _replacements.install(
        _partition_queries,
        functools.partial(dynamodb_values.attribute_values_as_they_are, _replace),
        functools.partial(dynamodb_expressions.conditions_parsed_once, _replace),
        functools.partial(dynamodb_expressions.update_expressions_parsed_once, _replace),
        _transactions_roll_back_what_they_touched,
        _exports_named_as_aws_names_them,
    )


def _exports_named_as_aws_names_them() -> None:
    """An export's ARN is its table's plus ``/export/<id>`` (what IAM authorises DescribeExport
    on); moto makes one of the table's ARN inside another, ending in ``/import/``. And an
    export is written when it is started."""
    import uuid

    from moto.dynamodb.models.table_export import TableExport

    shipped = TableExport.__init__

    def named(export: Any, *args: Any, **kwargs: Any) -> None:
        shipped(export, *args, **kwargs)
        export.arn = f"{export.table.table_arn}/export/{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"

    _replace(TableExport, "__init__", named)
    # written before the call returns, not on a thread of real time: the stack's clock may be
    # simulated, and a sweep minutes later must find it done (in AWS an export takes minutes)
    _replace(TableExport, "start", TableExport.run)


def index_writes(table_name: str, index_name: str, partitions: tuple[str, ...], account: str, region: str) -> tuple[Any, ...]:
    """A stamp that moves whenever an item enters, leaves or changes in one of the index's
    ``partitions`` (string partition keys): what a driver read of them stays good while it
    stands still. Before the index's first Query, the table's write count stands in."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].tables.get(table_name)
    if table is None:
        return ("missing",)
    entries = table.__dict__.get("_nudgeloop_index_entries", {}).get(index_name)
    if entries is None or entries.built != _IndexEntries.generation:
        return ("table", table.__dict__.get("_nudgeloop_writes", 0))
    return ("index", entries.serial, sum(entries.changes.get((p,), 0) for p in partitions))


# ---------------------------------------------------------------------------- queries


def _matches(item: Any, conditions: list[tuple[str, Any]]) -> bool:
    for name, expected in conditions:
        value = item.attrs.get(name)
        if value is None:
            return False
        if value.type == "S" and expected.type == "S":  # the common case, without moto's casting
            if value.value != expected.value:
                return False
        elif value != expected:  # DynamoType equality, as moto compares keys
            return False
    return True


def every_item(table: Any) -> list[Any]:
    """Every item a moto table stores, in place (a snapshot of the list: callers may write as
    they go): what DynamoDB's own background processes see (TTL, the local state's save)."""
    partitions = list(table.items.values())
    if not table.range_key_attr:
        return partitions
    return [item for partition in partitions for item in partition.values()]


def _primary(item: Any) -> tuple[Any, ...]:
    return _key_tuple(item.hash_key, item.range_key)


class _IndexEntries:
    """One secondary index's entries, kept as DynamoDB keeps them: by the index's partition key
    (string values), updated on every write of the table (put, update, delete, a cancelled
    transaction's restore), built from the table on the index's first Query."""

    def __init__(self, table: Any, index: Any) -> None:
        self.names = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        self.entries: dict[tuple[str, ...], dict[tuple[Any, ...], Any]] = {}
        self.where: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self.changes: dict[tuple[str, ...], int] = {}  # index partition -> writes that changed it
        self.built = _IndexEntries.generation
        _IndexEntries.serial += 1
        self.serial = _IndexEntries.serial
        for item in every_item(table):
            self.put(item)

    generation = 0  # moves when writes may have bypassed the entries (moto as shipped ran)
    serial = 0  # one per build: counts of changes start again with each

    @staticmethod
    def of(table: Any, index: Any) -> _IndexEntries:
        kept: dict[str, _IndexEntries] = table.__dict__.setdefault("_nudgeloop_index_entries", {})
        entries = kept.get(index.name)
        if entries is None or entries.built != _IndexEntries.generation:
            entries = kept[index.name] = _IndexEntries(table, index)
        return entries

    def _key(self, item: Any) -> tuple[str, ...] | None:
        values = []
        for name in self.names:
            value = item.attrs.get(name)
            if value is None or value.type != "S":
                return None  # not in the index (sparse), or not a string key: found by a scan
            values.append(value.value)
        return tuple(values)

    def put(self, item: Any) -> None:
        self.remove(_primary(item))
        key = self._key(item)
        if key is not None:
            self.entries.setdefault(key, {})[_primary(item)] = item
            self.where[_primary(item)] = key
            self.changes[key] = self.changes.get(key, 0) + 1

    def remove(self, primary: tuple[Any, ...]) -> None:
        key = self.where.pop(primary, None)
        if key is not None:
            self.changes[key] = self.changes.get(key, 0) + 1
            bucket = self.entries[key]
            bucket.pop(primary, None)
            if not bucket:
                del self.entries[key]

    def matching(self, conditions: list[tuple[str, Any]]) -> list[Any]:
        by_name = {name: value.value for name, value in conditions}
        if set(by_name) != set(self.names):
            return [item for bucket in self.entries.values() for item in bucket.values() if _matches(item, conditions)]
        return list(self.entries.get(tuple(by_name[n] for n in self.names), {}).values())

    @staticmethod
    def written(table: Any, primary: tuple[Any, ...], item: Any) -> None:
        """After a write of the item with key ``primary`` (``item`` None: it is gone)."""
        table.__dict__["_nudgeloop_writes"] = table.__dict__.get("_nudgeloop_writes", 0) + 1
        for entries in table.__dict__.get("_nudgeloop_index_entries", {}).values():
            if item is None:
                entries.remove(primary)
            else:
                entries.put(item)


def _stored(table: Any, hash_value: Any, range_value: Any) -> Any:
    if table.range_key_attr:
        return table.items.get(hash_value, {}).get(range_value) if range_value is not None else None
    return table.items.get(hash_value)


def _key_tuple(hash_value: Any, range_value: Any) -> tuple[Any, ...]:
    return (hash_value.type, hash_value.value, *((range_value.type, range_value.value) if range_value is not None else ()))


class _QueryResultsUncopied:
    """Stands in for ``copy`` in moto's table module: the results of a read-only Query or Scan
    (see partition_query, read_only_scan) are copied as a list, not item by item; every other
    copy is deep."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_candidates, "read_only", False):
            return list(value) if isinstance(value, list) else value
        return copy.deepcopy(value, memo)


def _partition_queries() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    put_item = Table.put_item
    delete_item = Table.delete_item
    update_item = DynamoDBBackend.update_item

    def indexed_put(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, item_attrs, *args, **kwargs)
        _IndexEntries.written(self, _primary(item), item)
        return item

    def indexed_delete(self: Table, hash_key: Any, range_key: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            return delete_item(self, hash_key, range_key, *args, **kwargs)
        finally:
            hash_value = DynamoType(hash_key) if isinstance(hash_key, dict) else hash_key
            range_value = DynamoType(range_key) if isinstance(range_key, dict) else range_key
            if isinstance(hash_value, DynamoType):
                range_value = range_value if self.range_key_attr else None
                _IndexEntries.written(self, _key_tuple(hash_value, range_value), _stored(self, hash_value, range_value))

    def indexed_update(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:  # moto updates the stored item in place: its index keys may have changed
            table = self.tables.get(table_name)
            if table is not None and table.hash_key_attr in key:
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
                _IndexEntries.written(table, _key_tuple(hash_value, range_value), _stored(table, hash_value, range_value))

    _replace(Table, "put_item", indexed_put)
    _replace(Table, "delete_item", indexed_delete)
    _replace(DynamoDBBackend, "update_item", indexed_update)

    all_items: Callable[[Table], list[Any]] = Table.all_items
    query = Table.query

    def scoped_all_items(self: Table) -> list[Any]:
        scoped = getattr(_candidates, "items", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]  # type: ignore[no-any-return]
        return all_items(self)

    signature = inspect.signature(query)

    def partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        named = signature.bind(self, hash_key, *args, **kwargs).arguments
        index_name = named.get("index_name")
        if index_name:
            conditions = list(named.get("hash_key_conditions") or [])
            index = {i.name: i for i in self.all_indexes()}.get(index_name)
            if index is None or not conditions:
                return query(self, hash_key, *args, **kwargs)  # moto's own error or path
            if all(value.type == "S" for _name, value in conditions):
                found = _IndexEntries.of(self, index).matching(conditions)
            else:  # numbers and binaries compare by value: moto's comparison, item by item
                found = [item for item in every_item(self) if _matches(item, conditions)]
        elif hash_key is not None and hash_key.type == "S":
            partition = self.items.get(hash_key)
            found = [] if partition is None else list(partition.values()) if self.range_key_attr else [partition]
        else:  # numbers and binaries: equal values may be spelled apart ("1" and "1.0"), so compare
            return query(self, hash_key, *args, **kwargs)
        previous = getattr(_candidates, "items", None)
        _candidates.items = (self, found)
        # moto deep-copies what a Query found, so that projecting cannot change stored items;
        # a table Query without projection only reads them (filters, serialization)
        _candidates.read_only = not index_name and not named.get("projection_expressions")
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _candidates.items = previous
            _candidates.read_only = False

    scan = Table.scan
    scan_signature = inspect.signature(scan)

    def read_only_scan(self: Table, *args: Any, **kwargs: Any) -> Any:
        named = scan_signature.bind(self, *args, **kwargs).arguments
        _candidates.read_only = not named.get("index_name") and not named.get("projection_expression")
        try:
            return scan(self, *args, **kwargs)
        finally:
            _candidates.read_only = False

    _replace(Table, "all_items", scoped_all_items)
    _replace(table_module, "copy", _QueryResultsUncopied)
    _replace(Table, "query", partition_query)
    _replace(Table, "scan", read_only_scan)


# ---------------------------------------------------------------------------- transactions


class _Untouched:
    """Stands in for ``copy`` in moto's DynamoDB backend: a table is not copied (what a
    failed transaction changed is restored from the items it named); anything else is."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    if op_type == "Put":
        attrs = op.get("Item") or {}
        if table.hash_key_attr not in attrs or (table.range_key_attr and table.range_key_attr not in attrs):
            return None
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op.get("Key")  # type: ignore[no-any-return]


def _transactions_roll_back_what_they_touched() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            return transact(self, transact_items)  # moto refuses it before writing anything
        before: list[tuple[Any, DynamoType, DynamoType | None, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            if len(entry) != 1:
                continue
            ((op_type, op),) = entry.items()
            table = self.tables.get(str(op.get("TableName"))) if isinstance(op, dict) else None
            key = _key_of(table, op_type, op) if table is not None else None
            if table is None or key is None:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before.append((table, hash_value, range_value, copy.deepcopy(_stored(table, hash_value, range_value))))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(before):
                _IndexEntries.written(table, _key_tuple(hash_value, range_value), item)
                if table.range_key_attr:
                    partition = table.items.get(hash_value)
                    if item is not None:
                        table.items[hash_value][range_value] = item
                    elif partition is not None:
                        partition.pop(range_value, None)
                        if not partition:
                            table.items.pop(hash_value, None)
                elif item is not None:
                    table.items[hash_value] = item
                else:
                    table.items.pop(hash_value, None)
            for shard, length in streams.values():
                del shard.items[length:]  # a cancelled transaction writes no stream record
            raise

    _replace(models, "copy", _Untouched)
    _replace(DynamoDBBackend, "transact_write_items", transact_write_items)
