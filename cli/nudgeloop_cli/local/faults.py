"""Faults the local runtime injects on purpose, to show what survives them (issue #20).

A plan is a comma-separated list of rules, read from ``nudgeloop local serve --faults`` or
``NUDGELOOP_FAULTS`` (seeded by ``--fault-seed`` / ``NUDGELOOP_FAULT_SEED``, so a failing run
replays)::

    ingest_process:raise@3        the function's 3rd invocation raises (as a crash would)
    send:raise~0.1                each invocation of ``send`` raises with probability 0.1
    segment_daily:timeout@1       its 1st invocation runs, then is reported timed out
    send:crash-after=sesv2.SendEmail@1   crashes right after SES accepted its 1st mail
    trigger_start:duplicate~0.2   a batch its queue mapping delivered comes again (at least once)
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
is the one the mapping goes by.

A ``throttle`` names a service as botocore names it in its events (``dynamodb``, ``sfn``,
``sesv2``, ``eventbridge``, ``sqs``), optionally with an operation: each *attempt* of a matching
request a handler makes gets the service's throttling answer, so botocore's retries (with
backoff, as each client is configured: five attempts for the stack's boto3 clients, four for
PynamoDB's) run as they do against AWS. ``fail-entries`` answers a PutEvents attempt with every
entry failed (``FailedEntryCount``, ``InternalFailure``) and delivers none, as EventBridge may.
The driver's own calls (provisioning, the event source mappings, schedules) are never faulted.

Counts of what was injected are kept per rule (``Faults.injected``).
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .base import LocalError

_RULE = re.compile(
    r"^(?P<target>[a-z][a-z0-9_]*(?:\.[A-Za-z]+)?):(?P<kind>raise|timeout|duplicate|throttle|fail-entries|crash-after=(?P<call>[a-z0-9]+\.[A-Za-z]+))"
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


KINDS = ("raise", "timeout", "duplicate", "crash-after=SERVICE.Operation", "throttle", "fail-entries")
# botocore's service names to the ids its events carry (what a plan names)
SERVICE_IDS = {"stepfunctions": "sfn", "events": "eventbridge"}


class InjectedFault(RuntimeError):
    """A function invocation failed because the fault plan said so."""


class InjectedCrash(BaseException):
    """The process died here (the plan's ``crash-after``): not an ``Exception``, so no handler
    code catches it; the host reports the invocation failed."""


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
        self._random = random.Random(seed)
        self._seen: Counter[Rule] = Counter()
        self.injected: Counter[str] = Counter()  # str(rule) -> faults injected
        self._lock = threading.Lock()

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

    def _fires(self, rule: Rule) -> bool:
        with self._lock:
            self._seen[rule] += 1
            fires = self._seen[rule] == rule.nth if rule.nth is not None else self._random.random() < (rule.p or 0.0)
            if fires:
                self.injected[str(rule)] += 1
            return fires

    def on_invoke(self, function_key: str) -> None:
        """Raise if the plan fails this invocation of ``function_key``."""
        for rule in self.rules:
            if rule.kind == "raise" and rule.target == function_key and self._fires(rule):
                raise InjectedFault(f"fault injected: {rule}")

    def duplicated(self, function_key: str) -> bool:
        """Whether the plan delivers this (successful) batch of ``function_key`` once more."""
        return any(rule.kind == "duplicate" and rule.target == function_key and self._fires(rule) for rule in self.rules)

    def entries_failed(self) -> bool:
        """Whether the plan fails every entry of this PutEvents attempt."""
        return any(rule.kind == "fail-entries" and self._fires(rule) for rule in self.rules)

    def timed_out(self, function_key: str) -> bool:
        """Whether the plan reports this (finished) invocation as timed out."""
        return any(rule.kind == "timeout" and rule.target == function_key and self._fires(rule) for rule in self.rules)

    def after_call(self, function_key: str | None, service: str, operation: str) -> None:
        """End the invocation here if the plan crashes ``function_key`` after this call."""
        call = f"{SERVICE_IDS.get(service, service)}.{operation}"
        for rule in self.rules:
            if rule.kind == f"crash-after={call}" and rule.target == function_key and self._fires(rule):
                raise InjectedCrash(f"fault injected: {rule}")

    def throttled(self, service: str, operation: str) -> bool:
        """Whether the plan throttles this attempt of a handler's request."""
        return any(
            rule.kind == "throttle" and rule.target in (service, f"{service}.{operation}") and self._fires(rule)
            for rule in self.rules
        )


_active: dict[str, Any] = {"faults": None, "acting": None}  # the running stack's plan and who acts


def activate(faults: Faults | None, acting: Any = None) -> None:
    """Make ``faults`` the plan of the running stack (``acting()`` says which function, if any,
    is making a request); None: no faults."""
    _active["faults"], _active["acting"] = faults, acting
    if faults is not None and any(r.kind in ("throttle", "fail-entries") for r in faults.rules):
        _install_throttling()


_installed: list[bool] = []


def _install_throttling() -> None:
    """Answer a throttled attempt in place of moto (its before-send handler), as the service does."""
    if _installed:
        return
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

    BotocoreStubber.__call__ = call  # type: ignore[method-assign]
    _installed.append(True)
