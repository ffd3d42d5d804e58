"""Where moto's DynamoDB is slow for reasons DynamoDB is not, answered as DynamoDB answers.

Every change to moto's DynamoDB behaviour for speed lives here, each with a test in
``tests/integration/test_emulator_dynamodb.py`` that compares its answers with moto's own
(ordering, pagination, conditions, index projections, rollback):

- **Queries read one partition.** moto's ``Table.query`` sorts every item of the table
  (``all_items``) on every Query, then keeps the partition asked for; DynamoDB reads the
  partition. Here a Query of the table sees only its partition's items, and a Query of an
  index only the items whose index key matches, before moto's own sorting, paging, key
  conditions, filters and projections run on them unchanged.
- **Attribute values are serialized as they are.** moto 5.2 serializes responses by walking
  the service model, trying ten union members with attribute pickers for every attribute
  value of every item. An ``AttributeValue`` is a union with exactly one member set, so only
  that member is serialized, by moto's own serializer methods.
- **Transactions roll back what they touched.** moto deep-copies every table a transaction
  touches, before running it, to roll back on failure: O(table) per transaction. DynamoDB
  has no such cost. Here the items the transaction names (and the table's stream) are
  remembered before, and restored on failure, which is all a rollback changes.

``install()`` is idempotent and applied by the local runtime before any table exists.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_candidates = threading.local()  # the items moto's query may look at, set for one Query
# (owner, attribute, moto's own value, ours) for every replacement made
_replaced: list[tuple[Any, str, Any, Any]] = []


def _replace(owner: Any, name: str, value: Any) -> None:
    _replaced.append((owner, name, getattr(owner, name), value))
    setattr(owner, name, value)


def install() -> None:
    with _lock:
        if _replaced:
            return
        _partition_queries()
        _attribute_values_as_they_are()
        _transactions_roll_back_what_they_touched()


@contextmanager
def as_shipped() -> Iterator[None]:
    """moto as it ships, for the tests that compare its answers with ours."""
    with _lock:
        for owner, name, shipped, _ours in reversed(_replaced):
            setattr(owner, name, shipped)
        try:
            yield
        finally:
            for owner, name, _shipped, ours in _replaced:
                setattr(owner, name, ours)


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


def _partition_queries() -> None:
    from moto.dynamodb.models.table import Table

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
            found = [
                item
                for partition in self.items.values()
                for item in (partition.values() if self.range_key_attr else [partition])
                if _matches(item, conditions)
            ]
        elif hash_key is not None and hash_key.type == "S":
            partition = self.items.get(hash_key)
            found = [] if partition is None else list(partition.values()) if self.range_key_attr else [partition]
        else:  # numbers and binaries: equal values may be spelled apart ("1" and "1.0"), so compare
            return query(self, hash_key, *args, **kwargs)
        previous = getattr(_candidates, "items", None)
        _candidates.items = (self, found)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _candidates.items = previous

    _replace(Table, "all_items", scoped_all_items)
    _replace(Table, "query", partition_query)


# ---------------------------------------------------------------------------- serialization


def _attribute_values_as_they_are() -> None:
    from moto.core.serialize import BaseJSONSerializer

    structure = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and isinstance(value, dict) and len(value) == 1:
            ((member_key, member_value),) = value.items()
            member_shape = shape.members.get(member_key)
            if member_shape is not None and member_value is not None:
                wrapper = self.MAP_TYPE()
                member_shape.parent = shape
                self._serialize(wrapper, member_value, member_shape, member_key)
                if key:
                    self._default_serialize(serialized, wrapper, shape, key)
                else:
                    serialized.update(wrapper)
                return
        structure(self, serialized, value, shape, key)

    _replace(BaseJSONSerializer, "_serialize_type_structure", serialize_structure)


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
        before: list[tuple[Any, DynamoType, DynamoType | None, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items[:100] if len(transact_items) <= 100 else []:
            if len(entry) != 1:
                continue
            ((op_type, op),) = entry.items()
            table = self.tables.get(str(op.get("TableName"))) if isinstance(op, dict) else None
            key = _key_of(table, op_type, op) if table is not None else None
            if table is None or key is None:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.items.get(hash_value, {}).get(range_value) if table.range_key_attr else table.items.get(hash_value)
            before.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(before):
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
