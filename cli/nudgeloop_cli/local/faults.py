"""Faults the local runtime injects on purpose, to show what survives them (issue #20).

A plan is a comma-separated list of rules, read from ``nudgeloop local serve --faults`` or
``NUDGELOOP_FAULTS`` (seeded by ``--fault-seed`` / ``NUDGELOOP_FAULT_SEED``, so a failing run
replays)::

    ingest_process:raise@3        the function's 3rd invocation raises (as a crash would)
    send:raise~0.1                each invocation of ``send`` raises with probability 0.1
    segment_daily:timeout@1       its 1st invocation runs, then is reported timed out
    send:crash-after=sesv2.SendEmail@1   crashes right after SES accepted its 1st mail
    trigger_start:duplicate~0.2   a batch its queue mapping delivered comes again (at least once)
    ingest_process:fail-record~0.1  a batch comes back with one record reported failed (a partial failure)
    eventbridge.PutEvents:fail-entries@1  a handler's 1st PutEvents has every entry failed
    dynamodb:throttle~0.05        a handler's DynamoDB request is throttled with probability 0.05
    sfn.StartExecution:throttle@1 the first StartExecution a handler makes is throttled

A ``raise`` names a function of the catalog: the invocation fails before the handler runs, and
the caller sees what Lambda reports for a function error (the stream or queue mapping retries,
API Gateway answers 502, Step Functions' task fails). A ``timeout`` lets the handler run, then
reports the invocation timed out (Lambda kills a function at its timeout: what it did by then
stays). A ``crash-after`` ends the invocation right after the named call returned, before
anything else of the handler runs (no ``except`` in the handler sees it), as a process dying
there would. A ``duplicate`` delivers a batch that an event source mapping (stream or queue)
handed the function successfully once more, as at-least-once delivery may; the second answer
is the one the mapping goes by. A ``fail-record`` answers a batch the function handled with
one of its records (drawn by the rule) reported failed (``batchItemFailures``), as a record
failing after its writes: the stream mapping delivers the batch again from that record (the
records after it a second time), the queue mapping that message.

A ``throttle`` names a service as botocore names it in its events (``dynamodb``, ``sfn``,
``sesv2``, ``eventbridge``, ``sqs``), optionally with an operation: each *attempt* of a matching
request a handler makes gets the service's throttling answer, so botocore's retries (with
backoff, as each client is configured: five attempts for the stack's boto3 clients, four for
PynamoDB's) run as they do against AWS. ``fail-entries`` answers a PutEvents attempt with every
entry failed (``FailedEntryCount``, ``InternalFailure``) and delivers none, as EventBridge may.
The driver's own calls (provisioning, the event source mappings, schedules) are never faulted.

Counts of what was injected are kept per rule (``Faults.injected``). Each rule draws from its
own generator, seeded from the plan's seed and the rule: a replay with the same seed and plan
makes the same draws for a rule as long as the rule's matching invocations (or requests) come in
the same order. Function rules match one function's invocations, which its event source mapping
delivers one at a time; a service rule matches every handler's requests, and journeys' tasks run
in threads, so their interleaving (and hence which request a draw falls on) may differ.

A function a ``raise`` fails reports its exception (``InjectedFault``), as an unhandled error
does; a ``crash-after`` reports what Lambda reports for a process that exited
(``Runtime.ExitError``); a ``timeout``, ``Sandbox.Timedout`` (lambda_host.FunctionTimedOut).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import LocalError
from .patching import Replacements

if TYPE_CHECKING:
    from .runtime import LocalStack

_RULE = re.compile(
    r"^(?P<target>[a-z][a-z0-9_]*(?:\.[A-Za-z]+)?):(?P<kind>raise|timeout|duplicate|fail-record|throttle|fail-entries|crash-after=(?P<call>[a-z0-9]+\.[A-Za-z]+))"
    r"(?:@(?P<nth>[1-9][0-9]*)|~(?P<p>0(?:\.[0-9]+)?|1(?:\.0+)?))$"
)
# the answer each service gives a request it throttles: (HTTP status, error code)
THROTTLED = {
    "dynamodb": (400, "ProvisionedThroughputExceededException"),
    "sfn": (400, "ThrottlingException"),
    "eventbridge": (400, "ThrottlingException"),
    "sqs": (400, "ThrottlingException"),
    "sesv2": (429, "TooManyRequestsException"),
}


KINDS = ("raise", "timeout", "duplicate", "fail-record", "crash-after=SERVICE.Operation", "throttle", "fail-entries")
# botocore's service names to the ids its events carry (what a plan names)
SERVICE_IDS = {"stepfunctions": "sfn", "events": "eventbridge"}


class InjectedFault(RuntimeError):
    """A function invocation failed because the fault plan said so."""


class InjectedCrash(BaseException):
    """The process died here (the plan's ``crash-after``): not an ``Exception``, so no handler
    code catches it; the host reports the invocation failed (``ProcessExited``)."""


class ProcessExited(InjectedFault):
    """How the host reports an invocation whose process died (an ``InjectedCrash``)."""

    error_type = "Runtime.ExitError"  # what Lambda (and so Step Functions) reports


@dataclass(frozen=True)
class Rule:
    target: str  # a function key, or a service (``service.Operation`` for one operation)
    kind: str  # raise | throttle
    nth: int | None = None  # the Nth matching invocation or request (1-based), once
    p: float | None = None  # or each with this probability

    def __str__(self) -> str:
        return f"{self.target}:{self.kind}" + (f"@{self.nth}" if self.nth is not None else f"~{self.p}")


class Faults:
    def __init__(self, rules: tuple[Rule, ...] = (), seed: int = 0) -> None:
        self.rules = rules
        self.seed = seed
        self._random = [random.Random(f"{seed}/{n}/{rule}") for n, rule in enumerate(rules)]  # one per rule
        self._seen: Counter[int] = Counter()  # rule's index -> matching invocations or requests
        self.injected: Counter[str] = Counter()  # str(rule) -> faults injected
        self._lock = threading.Lock()

    @classmethod
    def configured(cls, spec: str | None, seed: int | None, functions: tuple[str, ...]) -> Faults:
        """The plan given to the stack, else the environment's (``NUDGELOOP_FAULTS``, seeded by
        ``NUDGELOOP_FAULT_SEED``)."""
        return cls.parse(
            os.environ.get("NUDGELOOP_FAULTS", "") if spec is None else spec,
            int(os.environ.get("NUDGELOOP_FAULT_SEED", "0")) if seed is None else seed,
            functions,
        )

    @classmethod
    def parse(cls, spec: str, seed: int = 0, functions: tuple[str, ...] = ()) -> Faults:
        """A plan from its text; a rule that is not one (or names no function or service of the
        stack) is refused with what is wrong."""
        rules = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            found = _RULE.match(part)
            if found is None:
                raise LocalError(f"fault {part!r}: not TARGET:{'|'.join(KINDS)}@N or ~P")
            target, kind = found["target"], found["kind"]
            if kind == "fail-entries" and target != "eventbridge.PutEvents":
                raise LocalError(f"fault {part!r}: fail-entries is for eventbridge.PutEvents")
            if kind not in ("throttle", "fail-entries") and functions and target not in functions:
                raise LocalError(f"fault {part!r}: no function {target!r} (one of {', '.join(functions)})")
            if kind == "throttle" and target.split(".")[0] not in THROTTLED:
                raise LocalError(f"fault {part!r}: throttling is for {', '.join(THROTTLED)}")
            nth = int(found["nth"]) if found["nth"] else None
            rules.append(Rule(target, kind, nth, None if nth is not None else float(found["p"])))
        return cls(tuple(rules), seed)

    def off(self) -> None:
        """No rule fires from here on (the causes fixed, as before a redrive); what was injected
        stays counted."""
        with self._lock:
            self.rules, self._random = (), []

    def _fires(self, n: int) -> bool:
        rule = self.rules[n]
        with self._lock:
            self._seen[n] += 1
            fires = self._seen[n] == rule.nth if rule.nth is not None else self._random[n].random() < (rule.p or 0.0)
            if fires:
                self.injected[str(rule)] += 1
            return fires

    def _matching(self, kind: str, *targets: str | None) -> Iterator[int]:
        return (n for n, rule in enumerate(self.rules) if rule.kind == kind and rule.target in targets)

    def on_invoke(self, function_key: str) -> None:
        """Raise if the plan fails this invocation of ``function_key``."""
        for n in self._matching("raise", function_key):
            if self._fires(n):
                raise InjectedFault(f"fault injected: {self.rules[n]}")

    def duplicated(self, function_key: str) -> bool:
        """Whether the plan delivers this (successful) batch of ``function_key`` once more."""
        return any(self._fires(n) for n in self._matching("duplicate", function_key))

    def failed_record(self, function_key: str, records: int) -> int | None:
        """Which record of this (successful) batch of ``function_key`` the plan reports failed, if any."""
        for n in self._matching("fail-record", function_key):
            if records and self._fires(n):
                with self._lock:
                    return self._random[n].randrange(records)
        return None

    def entries_failed(self) -> bool:
        """Whether the plan fails every entry of this PutEvents attempt."""
        return any(self._fires(n) for n in self._matching("fail-entries", "eventbridge.PutEvents"))

    def timed_out(self, function_key: str) -> bool:
        """Whether the plan reports this (finished) invocation as timed out."""
        return any(self._fires(n) for n in self._matching("timeout", function_key))

    def after_call(self, function_key: str | None, service: str, operation: str) -> None:
        """End the invocation here if the plan crashes ``function_key`` after this call."""
        call = f"{SERVICE_IDS.get(service, service)}.{operation}"
        for n in self._matching(f"crash-after={call}", function_key):
            if self._fires(n):
                raise InjectedCrash(f"fault injected: {self.rules[n]}")

    def throttled(self, service: str, operation: str) -> bool:
        """Whether the plan throttles this attempt of a handler's request."""
        return any(self._fires(n) for n in self._matching("throttle", service, f"{service}.{operation}"))


_active: dict[str, Any] = {"faults": None, "acting": None}  # the running stack's plan and who acts
_replacements = Replacements()


def attach(stack: LocalStack) -> None:
    """Make the stack's plan the running one: its functions' invocations and requests are
    faulted from here on (the driver's never: ``acting`` is None for them)."""
    enforcer = stack.enforcer
    assert enforcer is not None
    plan = stack.faults
    _active["faults"], _active["acting"] = plan, lambda: enforcer.current
    if any(r.kind in ("throttle", "fail-entries") for r in plan.rules):
        _replacements.install(_answer_in_place_of_moto)
    enforcer.observers.append(lambda service, op, _params, _result: plan.after_call(enforcer.current, service, op))


def detach() -> None:
    """No plan runs (the stack stopped)."""
    _active["faults"], _active["acting"] = None, None


def as_shipped() -> AbstractContextManager[None]:
    """moto's stubber as it ships (for tests that compare answers)."""
    return _replacements.as_shipped()


def _answer_in_place_of_moto() -> None:
    """Answer a throttled attempt in place of moto (its before-send handler), as the service does."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

    shipped = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        faults, acting = _active["faults"], _active["acting"]
        if faults is not None and self.enabled and acting is not None and acting() is not None:
            _before, service, operation = [*event_name.split("."), "", ""][:3]
            if (service, operation) == ("eventbridge", "PutEvents") and faults.entries_failed():
                entries = len(json.loads(request.body or b"{}").get("Entries", []))
                failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "fault injected"}
                body = json.dumps({"FailedEntryCount": entries, "Entries": [failed] * entries}).encode()
                return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, MockRawResponse(body))  # type: ignore[arg-type]
            if service in THROTTLED and faults.throttled(service, operation):
                status, code = THROTTLED[service]
                body = json.dumps({"__type": code, "message": "Rate exceeded (fault injected)"}).encode()
                headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
                return AWSResponse(request.url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]
        return shipped(self, event_name, request, **kwargs)

    _replacements.replace(BotocoreStubber, "__call__", call)
