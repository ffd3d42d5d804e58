"""The write patterns of the data layer, written once: a put that happens only once, an update
guarded by a condition, and a transaction that records something exactly once together with the
counters it moves. Each answers False when its condition failed (the thing was done already, or
someone else changed the item first) and raises on any other error."""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.attributes import Attribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from .models import EngineItem


def conditional_failed(exc: Exception) -> bool:
    """Whether a write failed on its condition (or a transaction was cancelled by one)."""
    cause = getattr(exc, "cause_response_code", None)
    return cause in ("ConditionalCheckFailedException", "TransactionCanceledException")


def put_once(item: Model, key: Attribute[str]) -> bool:
    """PutItem only if no item with this key exists; False when one does."""
    try:
        item.save(condition=key.does_not_exist())
    except PutError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def update_if(item: Model, actions: list[Action], condition: Condition | None = None) -> bool:
    """UpdateItem under ``condition`` (and a versioned model's optimistic lock); False when it
    does not hold."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def transaction() -> TransactWrite:
    """A TransactWriteItems over the engine table (and any other table of the stack)."""
    return TransactWrite(connection=EngineItem._get_connection().connection)


def once(write: Callable[[TransactWrite], None]) -> bool:
    """Run ``write`` in one transaction: its conditional writes say whether this is the first
    time, its counter updates count it. False when a condition failed: nothing was written."""
    try:
        with transaction() as tx:
            write(tx)
    except TransactWriteError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True
