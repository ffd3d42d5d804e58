"""EventBridge Scheduler and DynamoDB's TTL on the stack's clock: schedules fire (invoked
asynchronously: retried, then sent to the function's on-failure queue), expired items go."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nudgeloop import clock
from nudgeloop.adapters import aws

from . import dynamodb
from .base import REGION, LocalError
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack


@dataclass
class Schedule:
    function_key: str
    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (cron with fixed minute/hour, or rate)."""
        cron = re.fullmatch(r"cron\((\d+) (\d+) (\*|\?) \* (\?|\*|[A-Z]{3}) \*\)", self.expression)
        if cron:
            minute, hour, weekday = int(cron.group(1)), int(cron.group(2)), cron.group(4)
            days = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
            fire = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
            while fire <= moment or (weekday in days and fire.weekday() != days.index(weekday)):
                fire += timedelta(days=1)
            return fire
        rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", self.expression)
        if rate:
            unit = {"m": 60, "h": 3600, "d": 86400}[rate.group(2)[0]] * int(rate.group(1))
            epoch = int(moment.timestamp())
            return datetime.fromtimestamp((epoch // unit + 1) * unit, tz=UTC)
        raise LocalError(f"schedule expression not supported locally: {self.expression}")


class Scheduler:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.schedules = [Schedule(f.key, f.schedule) for f in stack.catalog.functions if f.schedule]
        self._last_fired: dict[str, datetime] = {}
        # sweeps fired only when they have work (by the simulated clock; by the system clock the
        # journey sweep is settle's, the others fire on their schedule)
        self._sweeps: dict[str, Callable[[], datetime | None]] = {
            "journey_wake": self._wake_due,
            "webhook_deliver": self._webhooks_due,
            "audience_snapshot": self._snapshot_due,
            "broadcast": self._broadcasts_due,
        }

    def start(self) -> None:
        self._last_fired = {s.function_key: self.stack.clock.now() for s in self.schedules}

    def fired(self, key: str, moment: datetime) -> None:
        self._last_fired[key] = moment

    def last_fired(self) -> dict[str, datetime]:
        return dict(self._last_fired)

    def restore(self, last_fired: dict[str, datetime]) -> None:
        """A restarted stack's schedules go on from when they last fired (local state)."""
        self._last_fired.update({k: v for k, v in last_fired.items() if k in self._last_fired})

    def scheduled_event(self, key: str) -> dict[str, Any]:
        spec = self.stack.catalog.function(key)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": clock.iso(self.stack.clock.now()),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{spec.name}"],
            "detail": {},
        }

    def fire(self, key: str) -> None:
        """A schedule invokes asynchronously: as Lambda does, a failed invocation is retried
        ``async_retries`` times, then sent to the function's on-failure queue (async_invoke.py)."""
        if key == "segment_daily":
            self.expire_items()
        self.stack.invocations.invoke(key, self.scheduled_event(key))

    def expire_items(self) -> int:
        """DynamoDB's TTL, which moto does not run: items whose TTL attribute (a number) has passed
        are deleted (AWS does so within a few days; here once a simulated day), each by a
        DeleteItem so that streams and indexes see it as they see TTL's. Returns how many.

        The sweep is DynamoDB's own background process, not a request: it looks at moto's
        stored items in place (a Scan through the API would copy the whole table every day)."""
        from moto.dynamodb.models import dynamodb_backends

        now = self.stack.clock.now().timestamp()
        deleted = 0
        with self.stack.aws_lock:
            tables = dynamodb_backends[ACCOUNT][REGION].tables
            ddb = aws.client("dynamodb")
            for spec in self.stack.catalog.tables:
                table = tables.get(spec.name)
                if not spec.ttl_attribute or table is None:
                    continue
                names = [spec.partition_key[0], *([spec.sort_key[0]] if spec.sort_key else [])]
                expired = [item for item in dynamodb.every_item(table) if _expired(item.attrs.get(spec.ttl_attribute), now)]
                for item in expired:
                    ddb.delete_item(TableName=spec.name, Key={k: item.attrs[k].to_json() for k in names})
                    deleted += 1
        return deleted

    def next_fire(self) -> tuple[datetime, str] | None:
        with self.stack.aws_lock:
            return self._next_fire_locked()

    def _next_fire_locked(self) -> tuple[datetime, str] | None:
        candidates: list[tuple[datetime, str]] = []
        for schedule in self.schedules:
            sweep = self._sweeps.get(schedule.function_key)
            if sweep is not None:
                # A frequent sweep that has nothing to do is skipped: jump to the first moment
                # it would find work (what it does then is what it would have done at that tick).
                due = sweep()
                if due is not None:
                    # the first tick at or after the work is due, and never the tick it last fired at
                    # (work that stays due, a run under way, waits for the next tick as in AWS)
                    at = max(due, self.stack.clock.now()) - timedelta(microseconds=1)
                    fire = schedule.next_after(max(at, self._last_fired[schedule.function_key]))
                    candidates.append((fire, schedule.function_key))
                continue
            candidates.append((schedule.next_after(self._last_fired[schedule.function_key]), schedule.function_key))
        return min(candidates) if candidates else None

    def sweep_due(self, key: str) -> datetime | None:
        """When the sweep ``key`` next has work (None: it is not fired until some appears)."""
        with self.stack.aws_lock:
            return self._sweeps[key]()

    def _wake_due(self) -> datetime | None:
        """The journey sweep's next work: the next due timer, or the moment a reservation falls
        into doubt (the sweep reports those)."""
        from nudgeloop.dal import keys, ledger

        last = self._last_fired["journey_wake"]
        doubt = self.stack.watch.engine_view(
            "doubt", functools.partial(ledger.next_in_doubt_at, last), (keys.IN_DOUBT_SHARD,), last
        )
        dues = [d for d in (self.stack.watch.next_timer_due(), doubt) if d is not None]
        return min(dues) if dues else None

    def _webhooks_due(self) -> datetime | None:
        """The webhook sweep's next work: the next delivery to try again."""
        from nudgeloop.dal import keys, webhook_deliveries

        return self.stack.watch.engine_view("webhooks", webhook_deliveries.next_due, (keys.WEBHOOK_SHARD,))  # type: ignore[no-any-return]

    def _snapshot_due(self) -> datetime | None:
        """The audience snapshot's next work: a run under way or asked for, else the day's run
        (its state read from moto's table, without a request: the driver asks on every step)."""
        import json

        from moto.dynamodb.models.dynamo_type import DynamoType

        from nudgeloop.config import settings
        from nudgeloop.dal import keys
        from nudgeloop.services import audience_snapshot

        table = self._engine_table()
        item = (
            table.get_item(DynamoType({"S": keys.run(audience_snapshot.JOB)}), DynamoType({"S": keys.RUN_STATE}))
            if table
            else None
        )
        data = item.attrs.get("data") if item is not None else None
        state = json.loads(data.value) if data is not None else None
        return audience_snapshot.next_due(state, settings().audience_snapshot_at)

    def _broadcasts_due(self) -> datetime | None:
        """The broadcast sweep's work: from the send time of the first broadcast scheduled, every
        tick while one is under way (its ``ACTIVE#`` entries, read from moto's table without a
        request), none otherwise."""
        import json

        from moto.dynamodb.models.dynamo_type import DynamoType

        from nudgeloop.dal import broadcasts

        table = self._engine_table()
        partition = table.items.get(DynamoType({"S": broadcasts.INDEX})) if table is not None else None
        now, due = self.stack.clock.now(), []
        for sk, item in (partition or {}).items():
            if str(sk.value).startswith(broadcasts.ACTIVE):
                data = json.loads(str(item.attrs["data"].value)) if "data" in item.attrs else {}
                send_at = data.get("send_at")
                due.append(max(now, clock.parse_iso(send_at)) if send_at else now)
        return min(due) if due else None

    def _engine_table(self) -> Any:
        """moto's engine table, read in place (the driver asks on every step: no request)."""
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[ACCOUNT][REGION].tables.get(self.stack.catalog.table("engine").name)

    def fire_due(self) -> None:
        """System-clock mode: fire every schedule whose time has come (called periodically)."""
        with self.stack.lock:
            now = self.stack.clock.now()
            for schedule in self.schedules:
                if schedule.function_key == "journey_wake":
                    continue  # settle() wakes due journeys itself
                nxt = schedule.next_after(self._last_fired[schedule.function_key])
                if nxt <= now:
                    self._last_fired[schedule.function_key] = now
                    self.fire(schedule.function_key)
            self.stack.settle()


def _expired(value: Any, now: float) -> bool:
    """TTL's rule: a Number attribute holding epoch seconds before now; any other type, or an
    attribute missing, never expires."""
    if value is None or value.type != "N":
        return False
    try:
        return float(value.value) < now
    except ValueError:
        return False
