"""What the local driver reads of the journey engine to know when the stack is quiet: the
journey executions (from moto's backend, without a request) and the engine table's ``by_due``
index (parked and due timers, reservations in doubt), each read again only when it changed.
The caller holds the stack's AWS lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import dynamodb
from .base import REGION
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack


class EngineWatch:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._views: dict[str, tuple[tuple[object, ...], Any]] = {}

    def engine_view(self, name: str, read: Callable[[], Any], partitions: tuple[str, ...], *also: object) -> Any:
        """``read()``, read again only when an item entered, left or changed in one of the
        ``by_due`` index ``partitions`` the read covers (or ``also`` changed): the driver polls
        these on every step, and most steps change none of them."""
        table = self.stack.catalog.table("engine").name
        stamp = (dynamodb.index_writes(table, "by_due", partitions, ACCOUNT, REGION), *also)
        held = self._views.get(name)
        if held is None or held[0] != stamp:
            held = self._views[name] = (stamp, read())
        return held[1]

    def next_timer_due(self) -> datetime | None:
        """The earliest parked journey timer (the wake sweep's work), as the driver sees it."""
        from nudgeloop.dal import keys, timers

        return self.engine_view("next_timer", timers.next_timer_due, keys.TIMER_PARTITIONS)  # type: ignore[no-any-return]

    def executions(self) -> list[Any]:
        """Every execution of the journey state machine, from moto's backend (what ListExecutions
        answers, without a request: the driver asks on every step, the demo every day)."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        assert self.stack.res is not None
        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        machine = next((m for m in backend.state_machines if m.arn == self.stack.res.state_machine_arn), None)
        return list(machine.executions) if machine is not None else []

    def journey_statuses(self) -> Counter[str]:
        return Counter(str(getattr(e.status, "value", e.status)) for e in self.executions())

    def quiet(self) -> bool:
        """Every running journey is parked on a wait (or none runs)."""
        from nudgeloop.dal import keys, timers

        running = {e.name for e in self.executions() if e.status == "RUNNING"}
        if not running:
            return True
        parked = self.engine_view("parked", timers.parked_executions, (*keys.TIMER_PARTITIONS, keys.HELD_SHARD))
        return running <= parked  # type: ignore[no-any-return]
