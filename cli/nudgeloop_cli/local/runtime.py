"""The embedded local runtime: moto stands in for AWS, this driver stands in for the AWS glue.

What it does that AWS would do: turns HTTP requests into API Gateway proxy events, polls SQS
queues into the handlers as SQS batch events (deleting what succeeded, leaving failures for
redelivery and the DLQ), fires EventBridge schedules from the clock, and answers Step Functions'
Lambda tasks by calling the real handlers in-process. Everything else is the deployed code.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.config import env_name, reload
from nudgeloop.resources import DEFAULT_SEGMENT_SCHEDULE, Catalog, FunctionSpec, QueueSpec, catalog
from nudgeloop.services import redrive
from nudgeloop.services.redrive import lambda_record

from . import dynamodb
from .fidelity import Enforcer
from .limits import StepFunctionsLimits, state_output_too_large
from .provision import ACCOUNT, Provisioned, provision

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
DEFAULT_API_KEY = "local-dev-key"
SETTLE_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0  # how long stop() waits for a handler still running
_module_ids = itertools.count()


SIMULATOR_DOMAIN = "simulator.amazonses.com"  # SES's mailbox simulator (see _mailbox_answers)


class LocalError(RuntimeError):
    pass


class FunctionTimedOut(RuntimeError):
    """A handler ran past its configured timeout: Lambda ends such an invocation as failed."""

    error_type = "Sandbox.Timedout"  # what Lambda (and so Step Functions) reports


@dataclass
class FakeContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    deadline: float = 0.0  # time.monotonic() at which Lambda would end the invocation

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


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


def load_handler(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    module_name, func = spec.handler.rsplit(".", 1)
    path = ROOT / "functions" / spec.code_dir / f"{module_name}.py"
    unique = f"nudgeloop_fn_{spec.code_dir}_{module_name}_{next(_module_ids)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None or module_spec.loader is None:
        raise LocalError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, func)  # type: ignore[no-any-return]


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
    ) -> None:
        self.catalog: Catalog = catalog(prefix, os.environ.get("NUDGELOOP_SEGMENT_SCHEDULE", DEFAULT_SEGMENT_SCHEDULE))
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
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self.lock = threading.RLock()  # one driver at a time (settle, advance)
        # set by interrupt(): settle and advance return at their next step, new work is refused
        self.stopping = threading.Event()
        # moto's backends are not thread-safe; Step Functions runs executions in threads. Every
        # call into moto from handlers or the driver holds this lock (AWS itself needs no such thing).
        self.aws_lock = threading.RLock()
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._mock: Any = None
        self._previous_clock: clock.Clock | None = None
        self.res: Provisioned | None = None
        self.schedules = [Schedule(f.key, f.schedule) for f in self.catalog.functions if f.schedule]
        self._last_fired: dict[str, datetime] = {}
        self.counters: dict[str, int] = {}
        self._stream_positions: dict[str, str] = {}
        self._streams: Any = None  # the DynamoDB Streams client the pollers use
        self._shards: dict[str, list[str]] = {}
        self._stream_attempts: dict[str, int] = {}
        self.failures: list[dict[str, Any]] = []
        self.enforcer: Enforcer | None = None
        self.sfn_limits = StepFunctionsLimits(ACCOUNT, REGION)
        self.sent_with: dict[str, str] = {}  # SES message id -> the configuration set it was sent with
        self._accepted: list[str] = []  # mails SES accepted whose recipients' servers have not answered yet

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        _forget_warm_state()  # a new stack is a new "AWS": no container of a previous one survives

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
        aws.reset()
        self._previous_clock = clock.use(self.clock)
        runtime = self

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
            return runtime._invoke_from_states(function_name, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        _teach_moto_sending_options()
        dynamodb.install()  # moto's DynamoDB without its O(table) paths (dynamodb.py)
        domain = self.sender.rsplit("@", 1)[1].rstrip(">")
        self.res = provision(self.catalog, REGION, domain)
        # From here on every handler's AWS calls are checked against its role (fidelity.py).
        self.enforcer = Enforcer(self.catalog, ACCOUNT, REGION, self.sender, self.res.secret_arns)
        self.enforcer.install()
        self.enforcer.observers.append(self._remember_configuration_set)
        self.enforcer.observers.append(
            lambda service, op, params, result: self.sfn_limits.observe(service, op, params, result, self.clock.now().timestamp())
        )
        for name, value in self.settings_env().items():
            os.environ[name] = value
        reload()
        for fn in self.catalog.functions:
            self.handlers[fn.key] = load_handler(fn)
        self._last_fired = {s.function_key: self.clock.now() for s in self.schedules}
        return self

    def interrupt(self) -> None:
        """Begin stopping: settle and advance return after the step they are in, journeys'
        task calls are refused, the HTTP front door answers 503. stop() then tears down."""
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
        aws.reset()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings_env(self) -> dict[str, str]:
        assert self.res is not None
        c = self.catalog
        values = {
            "prefix": c.prefix,
            "log_level": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "customers_table": c.table("customers").name,
            "events_table": c.table("events").name,
            "engine_table": c.table("engine").name,
            "recs_table": c.table("recs").name,
            "bus_name": c.bus_name,
            "campaigns_bucket": self.res.buckets["campaigns"],
            "templates_bucket": self.res.buckets["templates"],
            "state_machine_arn": self.res.state_machine_arn,
            "configuration_set": c.configuration_set,
            "service_configuration_set": c.service_configuration_set,
            "reputation_min_sends": os.environ.get("NUDGELOOP_REPUTATION_MIN_SENDS", "200"),
            "sender": self.sender,
            "public_base_url": self.public_base_url,
            "signing_secret_name": c.signing_secret_name,
            "webhook_secret_name": c.webhook_secret_name,
            "data_bucket": self.res.buckets["data"],
            "imports_queue_url": self.res.queue_urls["imports"],
            "service": "nudgeloop",
            "staircase": os.environ.get("NUDGELOOP_STAIRCASE", "{}"),
            "max_future_skew_s": "3600",
            "rescan_segments": "8",
            "max_send_rate": "0",  # the simulated clock stands still between advances
            "send_window": os.environ.get("NUDGELOOP_SEND_WINDOW", ""),
            "frequency_cap_mails": "3",
            "frequency_cap_days": "7",
            "attribution_days": os.environ.get("NUDGELOOP_ATTRIBUTION_DAYS", "7"),
        }
        return {env_name(k): v for k, v in values.items()}

    # ------------------------------------------------------------------ invoking handlers

    def _context(self, key: str) -> FakeContext:
        spec = self.catalog.function(key)
        assert self.res is not None
        return FakeContext(
            spec.name,
            spec.memory_mb,
            self.res.function_arns[key],
            str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{spec.name}",
            deadline=time.monotonic() + spec.timeout_s,
        )

    def call(self, key: str, event: dict[str, Any]) -> Any:
        from nudgeloop.observability import metrics

        with self.aws_lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            assert self.enforcer is not None
            context = self._context(key)
            try:
                with self.enforcer.acting_as(key):
                    result = self.handlers[key](event, context)
                if time.monotonic() > context.deadline:
                    # Lambda would have ended it at its timeout (locally it ran on: what it did stays)
                    timeout = self.catalog.function(key).timeout_s
                    raise FunctionTimedOut(f"Task timed out after {timeout:.2f} seconds")
                return result
            finally:
                # Metrics are disabled locally (no EMF lines on stdout), but Powertools keeps
                # disabled metrics in memory and prints them once 100 accumulate: drop them.
                metrics.clear_metrics()

    def _invoke_from_states(self, function_arn: str, body: Any, response_headers: dict[str, str]) -> bytes:
        if self._mock is None or self.stopping.is_set():  # an execution thread outliving its stack: never reach real AWS
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "LocalStackStopped", "errorMessage": "the local stack is stopping"}).encode()
        name = function_arn.rsplit(":", maxsplit=1)[-1]
        spec = next((f for f in self.catalog.functions if f.name == name), None)
        if spec is None:
            raise LocalError(f"no local handler for {function_arn}")
        event = json.loads(body) if isinstance(body, (str, bytes)) and body else (body or {})
        with self._inflight_lock:
            self._inflight += 1
        try:
            result = self.call(spec.key, event)
            if state_output_too_large(result):  # what Step Functions does with an oversized result
                response_headers["x-amz-function-error"] = "Unhandled"
                self.failures.append({"function": spec.key, "error": "States.DataLimitExceeded", "message": "over 256 KiB"})
                return json.dumps(
                    {"errorType": "States.DataLimitExceeded", "errorMessage": "the state's output exceeds 256 KiB"}
                ).encode()
            return json.dumps(result).encode()
        except Exception as exc:  # Lambda reports an unhandled error as a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            self.failures.append({"function": spec.key, "error": type(exc).__name__, "message": str(exc)})
            error_type = getattr(exc, "error_type", type(exc).__name__)
            return json.dumps({"errorType": error_type, "errorMessage": str(exc)}).encode()
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    def api(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """What API Gateway does in front of the ingest function: route, API key, proxy event."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        route = self._match_route(method, path)
        if route is None:  # what API Gateway answers for a path or method it does not have
            return 403, {"content-type": "application/json"}, json.dumps({"message": "Missing Authentication Token"})
        spec, params = route
        if spec.api_key_required and headers.get("x-api-key") != self.api_key:
            return 403, {"content-type": "application/json"}, json.dumps({"message": "Forbidden"})
        event = {
            "resource": spec.path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": spec.path,
                "httpMethod": method,
                "path": f"/prod{path}",
                "stage": "prod",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": "127.0.0.1", "apiKey": headers.get("x-api-key")},
                "requestTimeEpoch": int(self.clock.now().timestamp() * 1000),
            },
            "body": body,
            "isBase64Encoded": False,
        }
        try:
            response = self.call("ingest_api", event)
        except Exception as exc:  # a function error: API Gateway's answer to a failed proxy integration
            self.failures.append({"function": "ingest_api", "error": type(exc).__name__, "message": str(exc)[:500]})
            return 502, {"content-type": "application/json"}, json.dumps({"message": "Internal server error"})
        out_headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name.lower()] = ", ".join(values)
        return int(response["statusCode"]), out_headers, response.get("body") or ""

    def _match_route(self, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
        for route in self.catalog.routes:
            if route.method != method:
                continue
            pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"
            found = re.match(pattern, path)
            if found:
                return route, found.groupdict()
        return None

    # ------------------------------------------------------------------ queues and schedules

    def _streams_client(self) -> Any:
        # moto serves DynamoDB Streams only on the regional endpoint, not the account-based one.
        return boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
        )

    def pump_streams(self) -> int:
        """What the Lambda event source mapping does for a table stream: batches of records,
        checkpoint after success, retry from the first failed record, and after the retries
        are spent an on-failure message to the DLQ."""
        assert self.res is not None
        if self._streams is None:
            self._streams = self._streams_client()
        streams = self._streams
        handled = 0
        for spec in self.catalog.streams:
            arn = self.res.stream_arns[spec.table_key]
            if arn not in self._shards:  # a table's stream keeps its shard (moto has one per table)
                self._shards[arn] = [s["ShardId"] for s in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]
            for shard_id in self._shards[arn]:
                cursor = f"{spec.function_key}/{shard_id}"  # each consumer reads the stream on its own
                position = self._stream_positions.get(cursor)
                if not _stream_has_records_after(self.catalog.table(spec.table_key).name, position):
                    continue  # what the poller would find: nothing (no request made for it)
                iterator = streams.get_shard_iterator(
                    StreamArn=arn,
                    ShardId=shard_id,
                    **(
                        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
                        if position
                        else {"ShardIteratorType": "TRIM_HORIZON"}
                    ),
                )["ShardIterator"]
                fetched = streams.get_records(ShardIterator=iterator, Limit=spec.batch_size)["Records"]
                if not fetched:
                    continue
                records = [r for r in fetched if r["eventName"] in spec.event_names]
                if not records:
                    self._stream_positions[cursor] = fetched[-1]["dynamodb"]["SequenceNumber"]
                    continue
                handled += len(records)
                event = {"Records": [lambda_record(r, arn, REGION) for r in records]}
                try:
                    result = self.call(spec.function_key, event) or {}
                    failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
                    if failed:
                        self.failures.append(
                            {"function": spec.function_key, "error": "BatchItemFailure", "message": ", ".join(failed)}
                        )
                except Exception as exc:  # the whole batch failed
                    self.failures.append({"function": spec.function_key, "error": type(exc).__name__, "message": str(exc)[:500]})
                    failed = [records[0]["dynamodb"]["SequenceNumber"]]
                if not failed:
                    self._stream_positions[cursor] = fetched[-1]["dynamodb"]["SequenceNumber"]
                    continue
                first = min(failed, key=int)
                before = [r["dynamodb"]["SequenceNumber"] for r in fetched if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
                if before:
                    self._stream_positions[cursor] = before[-1]
                attempt_key = f"{spec.function_key}/{first}"
                attempts = self._stream_attempts[attempt_key] = self._stream_attempts.get(attempt_key, 0) + 1
                if attempts > spec.retry_attempts:
                    # moto stamps records with the wall clock; locally the simulated clock is the time
                    arrived_iso = clock.iso(self.clock.now())
                    # What Lambda sends to an SQS on-failure destination: where the batch was, not its records.
                    aws.client("sqs").send_message(
                        QueueUrl=self.res.dlq_urls[spec.dlq_name],
                        MessageBody=json.dumps(
                            {
                                "requestContext": {
                                    "requestId": str(uuid.uuid4()),
                                    "functionArn": self.res.function_arns[spec.function_key],
                                    "condition": "RetryAttemptsExhausted",
                                    "approximateInvokeCount": attempts,
                                },
                                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
                                "version": "1.0",
                                "timestamp": clock.iso(self.clock.now()),
                                "DDBStreamBatchInfo": {
                                    "shardId": shard_id,
                                    "startSequenceNumber": first,
                                    "endSequenceNumber": first,
                                    "approximateArrivalOfFirstRecord": arrived_iso,
                                    "approximateArrivalOfLastRecord": arrived_iso,
                                    "batchSize": 1,
                                    "streamArn": arn,
                                },
                            }
                        ),
                    )
                    self._stream_positions[cursor] = first
        return handled

    def pump_once(self) -> int:
        with self.aws_lock:
            return self._pump_once()

    def _pump_once(self) -> int:
        """Deliver up to one batch from every stream and queue to its consumer; returns records handled."""
        assert self.res is not None
        while self._accepted:  # every mail SES accepted (journeys' and service mail) gets its answer
            self._mailbox_answers(self._accepted.pop(0))
        handled = self.pump_streams()
        sqs = aws.client("sqs")
        for fn in self.catalog.functions:
            if fn.queue_key is None:
                continue
            spec = self.catalog.queue(fn.queue_key)
            url = self.res.queue_urls[fn.queue_key]
            if not _queue_holds_messages(spec.name):
                continue  # the poller's receive would come back empty
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=spec.batch_size, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                continue
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.res.queue_arns[fn.queue_key],
                        "awsRegion": REGION,
                    }
                    for m in messages
                ]
            }
            try:
                result = self.call(fn.key, event) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                if failed:
                    self.failures.append({"function": fn.key, "error": "BatchItemFailure", "message": ", ".join(sorted(failed))})
            except Exception as exc:  # Lambda failed the whole batch: every message comes back
                self.failures.append({"function": fn.key, "error": type(exc).__name__, "message": str(exc)[:500]})
                failed = {m["MessageId"] for m in messages}
            for m in messages:
                if m["MessageId"] in failed:
                    # Visible again at once; moto moves it to the DLQ after maxReceiveCount.
                    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(messages)
        return handled

    def _journeys_quiet(self) -> bool:
        from nudgeloop.dal import repo

        with self._inflight_lock:
            if self._inflight:
                return False
        assert self.res is not None
        with self.aws_lock:
            sfn = aws.client("stepfunctions")
            running: set[str] = set()
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.res.state_machine_arn, statusFilter="RUNNING"
            ):
                running.update(e["name"] for e in page["executions"])
            return running <= repo.parked_executions()

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Run queues and journeys until nothing moves: every journey ended or parked on a wait."""
        from nudgeloop.dal import repo

        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not self.stopping.is_set():
                if self.pump_once():
                    continue
                if not self._journeys_quiet():
                    if time.monotonic() > deadline:
                        raise LocalError("journeys did not settle in time")
                    time.sleep(0.005)
                    continue
                with self.aws_lock:
                    due = any(True for _ in repo.due_timers(self.clock.now()))
                if due:
                    self.call("journey_wake", self._scheduled_event("journey_wake"))
                    continue
                if self.pump_once():
                    continue
                with self.aws_lock:  # a year's age, 25,000 events, names kept 90 days after close
                    if self.sfn_limits.sweep(self.clock.now().timestamp()):
                        continue
                return

    def _scheduled_event(self, key: str) -> dict[str, Any]:
        spec = self.catalog.function(key)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": clock.iso(self.clock.now()),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{spec.name}"],
            "detail": {},
        }

    def _fire(self, key: str) -> None:
        """A schedule invokes asynchronously: as Lambda does, a failed invocation is retried
        ``async_retries`` times, then sent to the function's on-failure queue."""
        if key == "segment_daily":
            self._expire_items()
        event = self._scheduled_event(key)
        spec = self.catalog.function(key)
        invocations = spec.async_retries + 1
        for _ in range(invocations):
            try:
                self.call(key, event)
                return
            except Exception as exc:
                self.failures.append({"function": key, "error": type(exc).__name__, "message": str(exc)[:500]})
                error = exc
        assert self.res is not None
        failures = self.catalog.failure_queue(spec)
        if failures:
            with self.aws_lock:
                aws.client("sqs").send_message(
                    QueueUrl=self.res.dlq_urls[failures],
                    MessageBody=json.dumps(
                        {  # what Lambda sends to an on-failure destination
                            "version": "1.0",
                            "timestamp": clock.iso(self.clock.now()),
                            "requestContext": {
                                "requestId": str(uuid.uuid4()),
                                "functionArn": f"{self.res.function_arns[key]}:$LATEST",
                                "condition": "RetriesExhausted",
                                "approximateInvokeCount": invocations,
                            },
                            "requestPayload": event,
                            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                            "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)[:500]},
                        }
                    ),
                )

    def _expire_items(self) -> int:
        """DynamoDB's TTL, which moto does not run: items whose TTL attribute has passed are
        deleted (AWS does so within a few days; here once a simulated day). Returns how many."""
        now = int(self.clock.now().timestamp())
        deleted = 0
        with self.aws_lock:
            dynamodb = aws.client("dynamodb")
            for spec in self.catalog.tables:
                if not spec.ttl_attribute:
                    continue
                keys = [spec.partition_key[0], *([spec.sort_key[0]] if spec.sort_key else [])]
                paginator = dynamodb.get_paginator("scan")
                pages = paginator.paginate(
                    TableName=spec.name,
                    FilterExpression="#ttl < :now",
                    ExpressionAttributeNames={"#ttl": spec.ttl_attribute},
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                    ProjectionExpression=", ".join(keys),
                )
                for page in pages:
                    for item in page.get("Items", []):
                        dynamodb.delete_item(TableName=spec.name, Key={k: item[k] for k in keys})
                        deleted += 1
        return deleted

    def _next_fire(self) -> tuple[datetime, str] | None:
        with self.aws_lock:
            return self._next_fire_locked()

    def _next_fire_locked(self) -> tuple[datetime, str] | None:
        from nudgeloop.dal import repo

        candidates: list[tuple[datetime, str]] = []
        for schedule in self.schedules:
            if schedule.function_key == "journey_wake":
                # A once-a-minute sweep that has nothing to do is skipped: jump to the next due
                # timer, or the moment a reservation falls into doubt (the sweep reports those).
                doubt = repo.next_in_doubt_at(self._last_fired[schedule.function_key])
                dues = [d for d in (repo.next_timer_due(), doubt) if d is not None]
                due = min(dues) if dues else None
                if due is not None:
                    fire = schedule.next_after(max(due, self.clock.now()) - timedelta(microseconds=1))
                    candidates.append((fire, schedule.function_key))
                continue
            candidates.append((schedule.next_after(self._last_fired[schedule.function_key]), schedule.function_key))
        return min(candidates) if candidates else None

    def advance(self, delta: timedelta) -> dict[str, int]:
        """Move the simulated clock, running everything that falls due on the way."""
        if not isinstance(self.clock, clock.SimulatedClock):
            raise LocalError("the clock is the system clock; it cannot be advanced")
        fired: dict[str, int] = {}
        with self.lock:
            target = self.clock.now() + delta
            self.settle()
            while not self.stopping.is_set():
                nxt = self._next_fire()
                if nxt is None or nxt[0] > target:
                    break
                moment, key = nxt
                if moment > self.clock.now():
                    self.clock.set(moment)
                self._last_fired[key] = moment
                self._fire(key)
                fired[key] = fired.get(key, 0) + 1
                self.settle()
            self.clock.set(target)
            self.settle()
        return fired

    def fire_due_schedules(self) -> None:
        """System-clock mode: fire every schedule whose time has come (called periodically)."""
        with self.lock:
            now = self.clock.now()
            for schedule in self.schedules:
                if schedule.function_key == "journey_wake":
                    continue  # settle() wakes due journeys itself
                nxt = schedule.next_after(self._last_fired[schedule.function_key])
                if nxt <= now:
                    self._last_fired[schedule.function_key] = now
                    self._fire(schedule.function_key)
            self.settle()

    # ------------------------------------------------------------------ SES stand-in

    def emit_ses_event(self, message_id: str, event_type: str, extra: dict[str, Any] | None = None) -> None:
        with self.aws_lock:
            self._emit_ses_event(message_id, event_type, extra)

    def _emit_ses_event(self, message_id: str, event_type: str, extra: dict[str, Any] | None = None) -> None:
        """Publish an SES event as the configuration set's EventBridge destination would."""
        detail_types = {
            "Delivery": ("Email Delivered", "delivery"),
            "Open": ("Email Opened", "open"),
            "Click": ("Email Clicked", "click"),
            "Bounce": ("Email Bounced", "bounce"),
            "Complaint": ("Email Complaint Received", "complaint"),
        }
        if event_type not in detail_types:
            raise LocalError(f"unsupported SES event type {event_type}; use one of {sorted(detail_types)}")
        detail_type, key = detail_types[event_type]
        message = self._raw_message(message_id)
        if message is None:
            raise LocalError(f"no such message {message_id}")
        now = clock.iso(self.clock.now())
        detail = {
            "eventType": event_type,
            "mail": {
                "timestamp": now,
                "messageId": message_id,
                "source": message.source,
                "destination": list(message.destinations.get("ToAddresses", []))
                if isinstance(message.destinations, dict)
                else list(message.destinations or []),
                "tags": {"ses:configuration-set": [self.sent_with.get(message_id, self.catalog.configuration_set)]},
            },
            key: {"timestamp": now, **(extra or {})},
        }
        aws.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.ses",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": "default",
                }
            ]
        )

    def _remember_configuration_set(self, service: str, operation: str, params: dict[str, Any], result: Any) -> None:
        if service == "sesv2" and operation == "SendEmail":
            if params.get("ConfigurationSetName"):
                self.sent_with[result["MessageId"]] = params["ConfigurationSetName"]
            self._accepted.append(result["MessageId"])  # answered by the driver, not as the sender

    def _mailbox_answers(self, message_id: str) -> None:
        """What the recipient's mail server answers, as SES's mailbox simulator does: mail to
        ``bounce[+label]@simulator.amazonses.com`` bounces (permanent), mail to
        ``complaint[+label]@...`` is delivered and then reported as spam; all else is delivered."""
        with self.aws_lock:
            message = self._raw_message(message_id)
            destinations = message.destinations if message is not None else []
            to = list(destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations or [])
            local, _, domain = (to[0] if to else "").lower().partition("@")
            kind = local.split("+", 1)[0] if domain == SIMULATOR_DOMAIN else ""
            if kind == "bounce":
                self._emit_ses_event(message_id, "Bounce", {"bounceType": "Permanent", "bounceSubType": "General"})
                return
            self._emit_ses_event(message_id, "Delivery")
            if kind == "complaint":
                self._emit_ses_event(message_id, "Complaint", {"complaintFeedbackType": "abuse"})

    def _ses_backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[ACCOUNT][REGION]

    def _raw_message(self, message_id: str) -> Any:
        return next((m for m in self._ses_backend().sent_messages if m.id == message_id), None)

    def outbox(self, after: int = 0) -> list[dict[str, Any]]:
        """The mails SES accepted, in order (those after the first ``after``)."""
        with self.aws_lock:
            return self._outbox(after)

    def _outbox(self, after: int = 0) -> list[dict[str, Any]]:
        from nudgeloop.dal import repo

        mails = []
        for message in list(self._ses_backend().sent_messages)[after:]:
            raw = getattr(message, "raw_data", None)
            if raw is None:
                continue
            parsed = BytesParser(policy=policy.default).parsebytes(raw.encode() if isinstance(raw, str) else raw)
            html = parsed.get_body(preferencelist=("html",))
            text = parsed.get_body(preferencelist=("plain",))
            record = repo.message_record(message.id) or {}
            sent_at = None
            if record:
                entry = next(
                    (e for e in repo.ledger(record["customer_id"]) if (e.data or {}).get("message_id") == message.id),
                    None,
                )
                sent_at = (entry.data or {}).get("sent_at") if entry else None
            mails.append(
                {
                    "message_id": message.id,
                    "to": parsed["To"],
                    "from": parsed["From"],
                    "subject": parsed["Subject"],
                    "html": html.get_content() if html is not None else None,
                    "text": text.get_content() if text is not None else None,
                    "headers": {k: str(v) for k, v in parsed.items()},
                    "campaign_id": record.get("campaign_id"),
                    "step_id": record.get("step_id"),
                    "customer_id": record.get("customer_id"),
                    "sent_at": sent_at,
                }
            )
        return mails

    # ------------------------------------------------------------------ content

    def push_directory(self, bucket_key: str, source: Path, prefix: str) -> int:
        """Upload every file below ``source`` to ``prefix`` in one of the stack's buckets."""
        assert self.res is not None
        s3 = aws.client("s3")
        count = 0
        for path in sorted(source.rglob("*")):
            if path.is_file():
                key = prefix + path.relative_to(source).as_posix()
                s3.put_object(Bucket=self.res.buckets[bucket_key], Key=key, Body=path.read_bytes())
                count += 1
        return count

    def put_import(self, name: str, body: bytes) -> dict[str, str]:
        """Drop a file under the data bucket's imports/ (what `nudgeloop import` does against a
        deployed stack); S3's notification has it imported. Returns its key and version."""
        from nudgeloop.resources import IMPORT_PREFIX

        assert self.res is not None
        key = IMPORT_PREFIX + name
        with self.aws_lock:
            put = aws.client("s3").put_object(Bucket=self.res.buckets["data"], Key=key, Body=body)
        return {"key": key, "version": str(put["ETag"]).strip('"')}

    def import_status(self, key: str, version: str) -> dict[str, Any]:
        """Where an import file stands: its checkpointed progress, and its report once done."""
        from nudgeloop.dal import repo
        from nudgeloop.services.bulk import REPORT_SUFFIX

        assert self.res is not None
        with self.aws_lock:
            state = repo.import_state(key, version) or {}
            report = None
            if state.get("status") == "done":
                body = aws.client("s3").get_object(Bucket=self.res.buckets["data"], Key=key + REPORT_SUFFIX)["Body"].read()
                report = json.loads(body)
        return {"status": state.get("status", "queued"), "progress": state.get("progress", {}), "report": report}

    def put_template(self, path: str, body: bytes) -> None:
        """Upload one template file (what `templates push` does); the S3 notification has it checked."""
        assert self.res is not None
        with self.aws_lock:
            aws.client("s3").put_object(Bucket=self.res.buckets["templates"], Key=f"templates/{path}", Body=body)

    def preview(self, name: str, customer_id: str) -> dict[str, Any]:
        """Render a template for a real customer of this stack, exactly as a send would (no mail)."""
        from jinja2 import TemplateError

        from nudgeloop.dal import repo
        from nudgeloop.domain import mail
        from nudgeloop.services import sender

        assert self.res is not None
        with self.aws_lock:
            customer = repo.get_customer(customer_id)
            if customer is None:
                raise LocalError(f"no customer {customer_id}")
            request = {"campaign_id": "preview", "step_id": "preview", "customer_id": customer_id}
            context = sender.personal_context(
                customer,
                repo.order_facts(customer_id),
                request,
                unsubscribe="https://preview.invalid/unsubscribe",
                voucher="PREVIEW-0000",
            )
            try:
                out = mail.render(
                    sender.template_fetch(self.res.buckets["templates"], cached=False), name, context, customer.locale
                )
            except TemplateError as exc:
                raise LocalError(f"{type(exc).__name__}: {exc}") from exc
            return {"subject": out.subject, "html": out.html, "text": out.text, "versions": out.versions}

    def put_campaign(self, name: str, body: bytes) -> None:
        """Upload one campaign definition (what `campaigns push` does)."""
        assert self.res is not None
        with self.aws_lock:
            aws.client("s3").put_object(Bucket=self.res.buckets["campaigns"], Key=f"campaigns/{name}", Body=body)

    def campaigns(self) -> list[dict[str, Any]]:
        from nudgeloop.services import campaign_store

        assert self.res is not None
        with self.aws_lock:
            return campaign_store.listing(self.res.buckets["campaigns"])

    def resume_marketing(self) -> dict[str, Any]:
        """``nudgeloop sends resume-marketing --local``: lift a reputation pause."""
        from nudgeloop.services import reputation

        with self.aws_lock:
            lifted = reputation.resume(self.catalog.configuration_set)
        return {"resumed": True, "was_paused_for": (lifted or {}).get("reason")}

    def simulate(self, text: str, days: int) -> dict[str, Any]:
        """Forecast a campaign definition against this stack's data (``campaigns simulate``);
        raises ``InvalidCampaign`` for a definition that would be rejected on upload."""
        from nudgeloop.config import from_environ
        from nudgeloop.domain.staircase import Staircase
        from nudgeloop.domain.windows import SendWindow
        from nudgeloop.services import campaign_store, forecast

        campaign = campaign_store.parse(text)
        config = from_environ(self.settings_env())
        window = SendWindow.model_validate_json(config.send_window) if config.send_window else None
        with self.aws_lock:
            return forecast.forecast(
                campaign,
                days,
                Staircase.from_json(config.staircase),
                default_window=window,
                frequency_cap=config.frequency_cap(),
            )

    def template_status(self, name: str) -> dict[str, Any] | None:
        from nudgeloop.dal import repo

        with self.aws_lock:
            return repo.template_status(name)

    def load_examples(self) -> None:
        """The shipped example templates and campaigns, as `templates push` / `campaigns push` do."""
        self.push_directory("templates", ROOT / "templates", "templates/")
        self.push_directory("campaigns", ROOT / "campaigns" / "examples", "campaigns/")
        self.push_directory("campaigns", ROOT / "catalog", "catalog/")

    def staircase(self) -> dict[str, Any]:
        """Customers per step now and today's migrations (what the report draws)."""
        from nudgeloop.dal import repo

        with self.aws_lock:
            today = self.clock.now().date()
            return {
                "now": clock.iso(self.clock.now()),
                "counts": {k: v for k, v in repo.segment_counts().items() if v},
                "flows_today": repo.segment_flows(today),
            }

    def redrive(self, dlq_name: str) -> dict[str, Any]:
        """What `nudgeloop dlq redrive` does in AWS: queue DLQs move back to their queue; stream
        DLQs re-invoke their function with the failed records (from the stream or the archive)."""
        assert self.res is not None
        with self.lock, self.aws_lock:
            sqs = aws.client("sqs")
            url = self.res.dlq_urls.get(dlq_name)
            source = redrive.source_of(self.catalog, dlq_name)
            if url is None or source is None:
                raise LocalError(f"no such dead-letter queue: {dlq_name}; known: {sorted(self.res.dlq_urls)}")
            if isinstance(source, QueueSpec):
                outcome = redrive.move_back(sqs, url, self.res.queue_urls[source.key])
            else:
                spec = source

                def invoke(event: dict[str, Any]) -> dict[str, Any]:
                    try:
                        return self.call(spec.function_key, event) or {}
                    except Exception as exc:
                        return {"errorType": type(exc).__name__, "errorMessage": str(exc)}

                archive = redrive.archive_bucket_for(self.catalog, spec, self.res.buckets["data"])
                outcome = redrive.redrive_stream(sqs, self._streams_client(), url, archive, REGION, invoke)
        self.settle()
        return outcome.as_dict()

    def dlq_depths(self) -> dict[str, int]:
        with self.aws_lock:
            return self._dlq_depths()

    def _dlq_depths(self) -> dict[str, int]:
        assert self.res is not None
        sqs = boto3.client("sqs", region_name=REGION)
        return {
            name: int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            for name, url in self.res.dlq_urls.items()
        }


def _stream_has_records_after(table_name: str, position: str | None) -> bool:
    """Whether a table's stream holds a record after ``position`` (None: any record), read
    from moto's backend: the pollers ask moto only when there is something to deliver."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].tables.get(table_name)
    shard = getattr(table, "stream_shard", None)
    if shard is None or not shard.items:
        return False
    if position is None:
        return True
    return int(shard.items[-1].record["dynamodb"]["SequenceNumber"]) > int(position)


def _queue_holds_messages(queue_name: str) -> bool:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues.get(queue_name)
    return queue is None or bool(queue._messages)  # an unknown queue: let the receive say so


def _teach_moto_sending_options() -> None:
    """SES v2 PutConfigurationSetSendingOptions, which moto lacks (the circuit breaker uses it):
    stored on moto's configuration set, so GetConfigurationSet reports it."""
    from moto.sesv2.responses import SESV2Response

    def put_configuration_set_sending_options(self: Any) -> str:
        found = self.sesv2_backend.get_configuration_set(self._get_param("ConfigurationSetName"))
        found.enabled = bool(self._get_param("SendingEnabled"))
        return json.dumps({})

    SESV2Response.put_configuration_set_sending_options = put_configuration_set_sending_options  # type: ignore[attr-defined]


def _forget_warm_state() -> None:
    """What warm Lambda containers keep between invocations (parsed campaigns, fetched and
    compiled templates): a previous local stack's must not leak into a new one with the same
    resource names."""
    from nudgeloop.domain import mail
    from nudgeloop.services import campaign_store, sender

    campaign_store.forget()
    sender._template_cache.clear()
    mail._ENVIRONMENTS.clear()
