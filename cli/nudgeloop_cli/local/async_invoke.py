"""Lambda's asynchronous invocation, for everything that invokes a function that way: its
schedule, an S3 notification, an EventBridge rule's target, and ``Invoke`` with
``InvocationType=Event`` (the daily run's fan-out, an import's continuation).

As Lambda does it: the caller gets its answer at once (S3 and EventBridge hand the event over;
``Invoke`` answers 202); the event waits in the function's queue until the stack pumps; the
function runs with it; a failed invocation is retried ``async_retries`` times (Lambda waits a
minute, then two, between tries: locally they follow at once), then the event goes to the
function's on-failure destination (``specs.Catalog.failure_queue``) in Lambda's record. A
function with none drops it, as Lambda does.

moto would invoke its own Lambda for S3 notifications and refuses Lambda targets of a custom
bus's rules: both are replaced here (one ``Replacements``), to queue the event instead.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.permissions import function_name

from .base import error_type
from .patching import Replacements

if TYPE_CHECKING:
    from .runtime import LocalStack

_active: dict[str, AsyncInvocations | None] = {"queue": None}  # the running stack's
_replacements = Replacements()


class AsyncInvocations:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._queued: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()

    def submit(self, function_key: str, event: dict[str, Any]) -> None:
        """Accept an event for the function (what Lambda does before answering 202)."""
        with self._lock:
            self._queued.append((function_key, event))

    def submit_to(self, function_arn: str, event: dict[str, Any]) -> None:
        self.submit(self.function_key(function_arn), event)

    def function_key(self, function_arn: str) -> str:
        name = function_name(function_arn)
        spec = next((f for f in self.stack.catalog.functions if f.name == name), None)
        if spec is None:
            raise LookupError(f"no function {function_arn}")
        return spec.key

    def pending(self) -> int:
        with self._lock:
            return len(self._queued)

    def pump(self) -> int:
        """Run the events queued so far (what they queue in turn runs at the next pump)."""
        with self._lock:
            batch = list(self._queued)
            self._queued.clear()
        for function_key, event in batch:
            self.invoke(function_key, event)
        return len(batch)

    def invoke(self, function_key: str, event: dict[str, Any]) -> bool:
        """One asynchronous invocation with Lambda's retries; False: it went to its destination."""
        spec = self.stack.catalog.function(function_key)
        invocations = spec.async_retries + 1
        error: BaseException | None = None
        for _ in range(invocations):
            try:
                self.stack.call(function_key, event)
                return True
            except Exception as exc:
                self.stack.failed(function_key, error_type(exc), str(exc))
                error = exc
        assert error is not None
        self._to_destination(function_key, event, invocations, error)
        return False

    def _to_destination(self, function_key: str, event: dict[str, Any], invocations: int, error: BaseException) -> None:
        assert self.stack.res is not None
        failures = self.stack.catalog.failure_queue(self.stack.catalog.function(function_key))
        if failures is None:
            return
        record = {  # what Lambda sends to an on-failure destination
            "version": "1.0",
            "timestamp": clock.iso(self.stack.clock.now()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.stack.res.function_arns[function_key]}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": invocations,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type(error), "errorMessage": str(error)[:500]},
        }
        with self.stack.aws_lock:
            aws.client("sqs").send_message(QueueUrl=self.stack.res.dlq_urls[failures], MessageBody=json.dumps(record))


def attach(invocations: AsyncInvocations | None) -> None:
    """Route the running stack's S3 notifications and rule targets to its functions (None: stopped)."""
    _active["queue"] = invocations
    if invocations is not None:
        _replacements.install(_notifications_to_functions, _rule_targets_to_functions)


def _running() -> AsyncInvocations:
    found = _active["queue"]
    if found is None:
        raise RuntimeError("no local stack is running")
    return found


def _notifications_to_functions() -> None:
    from moto.s3 import notifications

    def invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        _running().submit_to(fn_arn, event_body)

    _replacements.replace(notifications, "_invoke_awslambda", invoke)


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a function: ``time`` in ISO 8601 (moto keeps the
    epoch seconds it was put with, and turns them into that for its SQS targets)."""
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp

    out = {k: v for k, v in json.loads(json.dumps(event, default=str)).items() if k != "ingestion-time"}
    if isinstance(event.get("time"), (int, float)) or str(event.get("time", "")).replace(".", "", 1).isdigit():
        out["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(event["time"])))  # type: ignore[arg-type]
    return out


def _rule_targets_to_functions() -> None:
    from moto.events.models import Rule

    shipped = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        functions = [t for t in self.targets if ":lambda:" in t["Arn"]]
        if functions and self.event_pattern.matches_event(original_event):
            for target in functions:
                _running().submit_to(target["Arn"], _as_delivered(original_event))
        others = [t for t in self.targets if ":lambda:" not in t["Arn"]]
        if others:
            held, self.targets = self.targets, others
            try:
                shipped(self, original_event, transform_input)
            finally:
                self.targets = held

    _replacements.replace(Rule, "send_to_targets", send_to_targets)
