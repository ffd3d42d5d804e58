"""The embedded local runtime: moto stands in for AWS, this driver stands in for the AWS glue.

``LocalStack`` is the facade: it starts moto and provisions the catalog's resources, then
drives the deployed handlers through its parts, one module each:

- ``lambda_host``: every function's handler, invoked as Lambda invokes it (role enforced);
- ``api_gateway``: HTTP requests as API Gateway proxy events, with its own answers;
- ``pumps``: table streams and SQS queues polled into their consumers;
- ``scheduler``: EventBridge schedules and DynamoDB's TTL on the stack's clock;
- ``mailbox``: SES's outbox and what recipients' servers answer;
- ``engine_watch``: what the driver reads of the journey engine to know when it is quiet;
- ``admin``: the product's local admin routes (operator commands, done by the same services).

Everything else is the deployed code; ``fidelity``, ``limits`` and ``dynamodb`` are where the
local runtime refuses what AWS refuses, and where moto is made as fast as AWS is.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nudgeloop import clock, warm
from nudgeloop.config import LOCAL_PREFIX, TUNABLES, declared_defaults, env_name, reload, tunable_values
from nudgeloop.layout import AUDIENCE_EXPORTS_PREFIX
from nudgeloop.resources import DEFAULT_SEGMENT_SCHEDULE, catalog
from nudgeloop.specs import Catalog

from . import async_invoke, athena, dynamodb, faults, moto_hot_paths
from .admin import Admin
from .api_gateway import ApiGateway
from .async_invoke import AsyncInvocations
from .athena import LocalAthena
from .base import DEFAULT_API_KEY, LOCAL_KEYS, REGION, SETTLE_TIMEOUT_S, STOP_GRACE_S, LocalError
from .engine_watch import EngineWatch
from .faults import Faults
from .fidelity import Enforcer
from .lambda_host import LambdaHost
from .limits import StepFunctionsLimits
from .mailbox import Mailbox
from .provision import ACCOUNT, Provisioned, provision, provision_keys
from .pumps import Pumps
from .scheduler import Schedule, Scheduler

JOURNEY_POLL_S = 0.05  # how long settle waits for running journeys before looking again

__all__ = ["SETTLE_TIMEOUT_S", "LocalError", "LocalStack", "Schedule"]


class LocalStack:
    """The whole Nudgeloop stack on moto, in this process."""

    def __init__(
        self,
        *,
        clock_mode: str = "simulated",
        start: datetime | None = None,
        api_key: str | None = None,
        public_base_url: str = "http://127.0.0.1:8787",
        sender: str = "Nudgeloop Demo Shop <news@shop.example>",
        prefix: str = "nudgeloop",
        faults: str | None = None,
        fault_seed: int | None = None,
    ) -> None:
        self.catalog: Catalog = catalog(prefix, os.environ.get("NUDGELOOP_SEGMENT_SCHEDULE", DEFAULT_SEGMENT_SCHEDULE))
        # what this run breaks on purpose (faults.py)
        self.faults = Faults.configured(faults, fault_seed, tuple(f.key for f in self.catalog.functions))
        self.clock_mode = clock_mode
        if clock_mode == "simulated":
            self.clock: clock.Clock = clock.SimulatedClock(start or datetime(2026, 1, 1, tzinfo=UTC))
        elif clock_mode == "system":
            self.clock = clock.SystemClock()
        else:
            raise LocalError("clock must be 'simulated' or 'system'")
        self.api_key = api_key or os.environ.get("NUDGELOOP_API_KEY") or DEFAULT_API_KEY
        self.public_base_url = public_base_url
        self.sender = sender
        self.lock = threading.RLock()  # one driver at a time (settle, advance)
        # set by interrupt(): settle and advance return at their next step, new work is refused
        self.stopping = threading.Event()
        # moto's backends are not thread-safe; Step Functions runs executions in threads. Every
        # call into moto from handlers or the driver holds this lock (AWS itself needs no such thing).
        self.aws_lock = threading.RLock()
        self._mock: Any = None
        self._previous_clock: clock.Clock | None = None
        self.res: Provisioned | None = None
        self.failures: list[dict[str, Any]] = []  # function errors, as the functions' metrics would count them
        self.enforcer: Enforcer | None = None
        self.athena: LocalAthena | None = None  # the embedded Athena (athena.py), while started
        self.sfn_limits = StepFunctionsLimits(ACCOUNT, REGION)
        self.host = LambdaHost(self)
        self.gateway = ApiGateway(self)
        self.api = self.gateway.api  # what API Gateway does in front of the ingest function
        self.pumps = Pumps(self)
        self.invocations = AsyncInvocations(self)  # asynchronous invocations (async_invoke.py)
        self.scheduler = Scheduler(self)
        self.mailbox = Mailbox(self)
        self.admin = Admin(self)
        self.watch = EngineWatch(self)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        warm.forget_all()  # a new stack is a new "AWS": no container of a previous one survives
        for var, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Nudgeloop",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }.items():
            os.environ[var] = value
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._mock = mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        # boto3 clients are kept from stack to stack (aws.client): they hold no AWS state (moto's
        # backends do) and a new one costs about 30 ms; what a warm container caches of AWS's
        # data is forgotten above.
        self._previous_clock = clock.use(self.clock)
        host = self.host

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
            return host.answer_invoke(function_name, body, headers, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        Mailbox.teach_moto_sending_options()
        dynamodb.install()  # moto's DynamoDB without its O(table) paths (dynamodb.py)
        moto_hot_paths.install()  # JSONPaths parsed once, SQS retention read from the queue
        domain = self.sender.rsplit("@", 1)[1].rstrip(">")
        self.res = provision(self.catalog, REGION, domain)
        provision_keys(self.catalog, {"admin": self.api_key, **LOCAL_KEYS})
        # From here on every handler's AWS calls are checked against its role (fidelity.py).
        self.enforcer = Enforcer(self.catalog, ACCOUNT, REGION, self.sender, self.res.secret_arns)
        self.enforcer.install()
        self.enforcer.observers.append(self.mailbox.remember_configuration_set)
        self.enforcer.observers.append(
            lambda service, op, params, result: self.sfn_limits.observe(service, op, params, result, self.clock.now().timestamp())
        )
        for name, value in self.settings_env().items():
            os.environ[name] = value
        reload()
        self.host.load()
        self.scheduler.start()
        faults.attach(self)
        async_invoke.attach(self.invocations)
        self.athena = LocalAthena(self.enforcer)
        athena.attach(self.athena)  # Athena's queries run on the embedded engine (athena.py)
        return self

    @property
    def started(self) -> bool:
        """moto is up: the parts may reach it (after stop() they must not)."""
        return self._mock is not None

    def interrupt(self) -> None:
        """Begin stopping: settle and advance return after the step they are in and the HTTP
        front door answers 503; a journey task already asked for still runs (stop() waits for
        the handler in flight, then tears down, and later task calls are refused)."""
        self.stopping.set()

    def resume(self) -> None:
        """Undo interrupt() (a driver that stopped its server may still use the stack)."""
        if self._mock is not None:
            self.stopping.clear()

    def stop(self) -> None:
        self.stopping.set()
        # a request or delivery still inside a handler finishes first (its answer is sent),
        # so nothing reaches for AWS once moto is gone
        locked = self.aws_lock.acquire(timeout=STOP_GRACE_S)
        try:
            faults.detach()
            async_invoke.attach(None)
            athena.attach(None)
            if self.athena is not None:
                self.athena.close()
            if self.enforcer is not None:
                self.enforcer.uninstall()
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
        finally:
            if locked:
                self.aws_lock.release()
        if self._previous_clock is not None:
            clock.use(self._previous_clock)
            self._previous_clock = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings_env(self) -> dict[str, str]:
        """The functions' environment: the stack's resources, and the tunable settings as
        declared (``nudgeloop.config``), each overridable by ``NUDGELOOP_<NAME>``."""
        assert self.res is not None
        c = self.catalog
        local = {
            "sender": self.sender,
            "max_send_rate": "0",  # no limit of our own: the simulated clock stands still between advances
        }
        overrides = {name: os.environ.get(LOCAL_PREFIX + name.upper(), local.get(name)) for name in TUNABLES}
        values = {
            **declared_defaults(),
            "prefix": c.prefix,
            "log_level": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "customers_table": c.table("customers").name,
            "events_table": c.table("events").name,
            "engine_table": c.table("engine").name,
            "recs_table": c.table("recs").name,
            "audit_table": c.table("audit").name,
            "bus_name": c.bus_name,
            "campaigns_bucket": self.res.buckets["campaigns"],
            "templates_bucket": self.res.buckets["templates"],
            "state_machine_arn": self.res.state_machine_arn,
            "configuration_set": c.configuration_set,
            "service_configuration_set": c.service_configuration_set,
            "public_base_url": self.public_base_url,
            "signing_secret_name": c.signing_secret_name,
            "webhook_secret_name": c.webhook_secret_name,
            "data_bucket": self.res.buckets["data"],
            "audience_database": c.audience_database,
            "audience_workgroup": c.audience_workgroup,
            "audience_export_function": c.function("audience_export").name,
            "broadcast_function": c.function("broadcast").name,
            "broadcast_send_function": c.function("broadcast_send").name,
            "erasure_function": c.function("erasure").name,
            "audience_export_days": str(c.expiry_days(AUDIENCE_EXPORTS_PREFIX)),
            **tunable_values(overrides),
        }
        return {env_name(k): v for k, v in values.items()}

    def failed(self, function: str, error: str, message: str) -> None:
        """A function error, as the function's Errors metric (and the demo's problems) count it."""
        self.failures.append({"function": function, "error": error, "message": message[:500]})

    # ------------------------------------------------------------------ driving

    def pump_once(self) -> int:
        """Deliver up to one batch from every stream and queue to its consumer; returns records handled."""
        with self.aws_lock:
            self.mailbox.answer_accepted()
            return self.pumps.pump_streams() + self.pumps.pump_queues() + self.invocations.pump()

    def journey_statuses(self) -> Counter[str]:
        """The journeys started so far, by status (RUNNING, SUCCEEDED, FAILED, ...)."""
        with self.aws_lock:
            return self.watch.journey_statuses()

    def _journeys_quiet(self) -> bool:
        if self.host.busy():
            return False
        with self.aws_lock:
            return self.watch.quiet()

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Run queues and journeys until nothing moves: every journey ended or parked on a wait."""
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not self.stopping.is_set():
                self.host.progress.clear()
                if self.pump_once():
                    continue
                if not self._journeys_quiet():
                    if time.monotonic() > deadline:
                        raise LocalError("journeys did not settle in time")
                    # until a journey's task returns (or a state without one may have moved it)
                    self.host.progress.wait(JOURNEY_POLL_S)
                    continue
                with self.aws_lock:
                    due = self.watch.next_timer_due()
                if due is not None and due <= self.clock.now():
                    self.call("journey_wake", self.scheduler.scheduled_event("journey_wake"))
                    continue
                if self.pump_once():
                    continue
                with self.aws_lock:  # a year's age, 25,000 events, names kept 90 days after close
                    if self.sfn_limits.sweep(self.clock.now().timestamp()):
                        continue
                return

    def advance(self, delta: timedelta) -> dict[str, int]:
        """Move the simulated clock, running everything that falls due on the way."""
        if not isinstance(self.clock, clock.SimulatedClock):
            raise LocalError("the clock is the system clock; it cannot be advanced")
        fired: dict[str, int] = {}
        with self.lock:
            target = self.clock.now() + delta
            self.settle()
            while not self.stopping.is_set():
                nxt = self.scheduler.next_fire()
                if nxt is None or nxt[0] > target:
                    break
                moment, key = nxt
                if moment > self.clock.now():
                    self.clock.set(moment)
                self.scheduler.fired(key, moment)
                self.scheduler.fire(key)
                fired[key] = fired.get(key, 0) + 1
                self.settle()
            self.clock.set(target)
            self.settle()
        return fired

    def fire_due_schedules(self) -> None:
        """System-clock mode: fire every schedule whose time has come (called periodically)."""
        self.scheduler.fire_due()

    # ------------------------------------------------------------------ the parts, as the stack's API

    @property
    def handlers(self) -> dict[str, Any]:
        return self.host.handlers

    @property
    def counters(self) -> dict[str, int]:
        return self.host.counters

    @property
    def schedules(self) -> list[Schedule]:
        return self.scheduler.schedules

    @property
    def sent_with(self) -> dict[str, str]:
        return self.mailbox.sent_with

    def call(self, key: str, event: dict[str, Any]) -> Any:
        return self.host.call(key, event)

    def _scheduled_event(self, key: str) -> dict[str, Any]:
        return self.scheduler.scheduled_event(key)

    def emit_ses_event(self, message_id: str, event_type: str, extra: dict[str, Any] | None = None) -> None:
        self.mailbox.emit_ses_event(message_id, event_type, extra)

    def outbox(self, after: int = 0) -> list[dict[str, Any]]:
        return self.mailbox.outbox(after)

    def push_directory(self, bucket_key: str, source: Path, prefix: str) -> int:
        return self.admin.push_directory(bucket_key, source, prefix)

    def load_examples(self) -> None:
        self.admin.load_examples()

    def put_import(self, name: str, body: bytes) -> dict[str, str]:
        return self.admin.put_import(name, body)

    def import_status(self, key: str, version: str) -> dict[str, Any]:
        return self.admin.import_status(key, version)

    def put_template(self, path: str, body: bytes) -> None:
        self.admin.put_template(path, body)

    def preview(self, name: str, customer_id: str) -> dict[str, Any]:
        return self.admin.preview(name, customer_id)

    def put_campaign(self, name: str, body: bytes) -> None:
        self.admin.put_campaign(name, body)

    def campaigns(self) -> list[dict[str, Any]]:
        return self.admin.campaigns()

    def resume_marketing(self) -> dict[str, Any]:
        return self.admin.resume_marketing()

    def simulate(self, text: str, days: int) -> dict[str, Any]:
        return self.admin.simulate(text, days)

    def template_status(self, name: str) -> dict[str, Any] | None:
        return self.admin.template_status(name)

    def staircase(self) -> dict[str, Any]:
        return self.admin.staircase()

    def redrive(self, dlq_name: str) -> dict[str, Any]:
        return self.admin.redrive(dlq_name)

    def dlq_depths(self) -> dict[str, int]:
        return self.admin.dlq_depths()
