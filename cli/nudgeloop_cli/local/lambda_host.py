"""The Lambda host: loads every function's handler from its deployed code and invokes it as
Lambda would (a context with the function's name, memory and timeout; the function's role
enforced around the call; a timeout reported after the fact), for the pumps, the schedules,
API Gateway and Step Functions' Lambda tasks."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from nudgeloop.specs import FunctionSpec

from .base import ROOT, LocalError, error_type
from .faults import InjectedCrash, ProcessExited
from .limits import state_output_too_large

if TYPE_CHECKING:
    from .runtime import LocalStack

_module_ids = itertools.count()
_loading = threading.RLock()  # sys.path and sys.modules are the process's: one cold start at a time


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


def load_handler(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    module_name, func = spec.handler.rsplit(".", 1)
    path = ROOT / "functions" / spec.code_dir / f"{module_name}.py"
    unique = f"nudgeloop_fn_{spec.code_dir}_{module_name}_{next(_module_ids)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None or module_spec.loader is None:
        raise LocalError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    # the cold start runs as this function (``runtime.boot`` checks the settings its entry needs)
    with _loading:
        held = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
        # the function's own modules (``import answers`` beside ``api.py``) are on its path, as in
        # Lambda's /var/task; each load imports them afresh and forgets them after, so that two
        # functions' same-named modules, or two stacks' loads of one function, share nothing
        code_dir = str(path.parent)
        sys.path.insert(0, code_dir)
        try:
            module_spec.loader.exec_module(module)
        finally:
            sys.path.remove(code_dir)
            for name, loaded in list(sys.modules.items()):
                if os.path.dirname(getattr(loaded, "__file__", None) or "") == code_dir:
                    del sys.modules[name]
            if held is None:
                os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
            else:
                os.environ["AWS_LAMBDA_FUNCTION_NAME"] = held
    return getattr(module, func)  # type: ignore[no-any-return]


class LambdaHost:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self.counters: dict[str, int] = {}  # invocations per function
        self._inflight = 0  # Step Functions' task invocations running now
        self._inflight_lock = threading.Lock()
        self.progress = threading.Event()  # set whenever a Step Functions task invocation returns

    def load(self) -> None:
        for fn in self.stack.catalog.functions:
            self.handlers[fn.key] = load_handler(fn)

    def busy(self) -> bool:
        with self._inflight_lock:
            return self._inflight > 0

    def _context(self, key: str) -> FakeContext:
        spec = self.stack.catalog.function(key)
        assert self.stack.res is not None
        return FakeContext(
            spec.name,
            spec.memory_mb,
            self.stack.res.function_arns[key],
            str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{spec.name}",
            deadline=time.monotonic() + spec.timeout_s,
        )

    def call(self, key: str, event: dict[str, Any]) -> Any:
        from nudgeloop.observability import metrics

        with self.stack.aws_lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            assert self.stack.enforcer is not None
            context = self._context(key)
            try:
                with self.stack.enforcer.acting_as(key):
                    self.stack.faults.on_invoke(key)  # a crash the fault plan asks for (faults.py)
                    try:
                        result = self.handlers[key](event, context)
                    except InjectedCrash as crash:  # the process died there: a function error
                        raise ProcessExited(str(crash)) from None
                if time.monotonic() > context.deadline or self.stack.faults.timed_out(key):
                    # Lambda would have ended it at its timeout (locally it ran on: what it did stays)
                    timeout = self.stack.catalog.function(key).timeout_s
                    raise FunctionTimedOut(f"Task timed out after {timeout:.2f} seconds")
                return result
            finally:
                # Metrics are disabled locally (no EMF lines on stdout), but Powertools keeps
                # disabled metrics in memory and prints them once 100 accumulate: drop them.
                metrics.clear_metrics()

    def answer_invoke(self, function_arn: str, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        """moto Lambda's Invoke, answered by the handlers: ``InvocationType=Event`` is queued for
        the stack's asynchronous invocations (async_invoke.py; Lambda answers 202), any other runs
        now."""
        if headers.get("X-Amz-Invocation-Type") == "Event":
            self.stack.invocations.submit_to(function_arn, json.loads(body or b"{}"))
            return b""
        return self.invoke_from_states(function_arn, body, response_headers)

    def invoke_from_states(self, function_arn: str, body: Any, response_headers: dict[str, str]) -> bytes:
        if not self.stack.started:  # an execution thread outliving its stack: never reach real AWS
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "LocalStackStopped", "errorMessage": "the local stack is stopped"}).encode()
        name = function_arn.rsplit(":", maxsplit=1)[-1]
        spec = next((f for f in self.stack.catalog.functions if f.name == name), None)
        if spec is None:
            raise LocalError(f"no local handler for {function_arn}")
        event = json.loads(body) if isinstance(body, (str, bytes)) and body else (body or {})
        with self._inflight_lock:
            self._inflight += 1
        try:
            result = self.call(spec.key, event)
            if state_output_too_large(result):  # what Step Functions does with an oversized result
                response_headers["x-amz-function-error"] = "Unhandled"
                self.stack.failed(spec.key, "States.DataLimitExceeded", "over 256 KiB")
                return json.dumps(
                    {"errorType": "States.DataLimitExceeded", "errorMessage": "the state's output exceeds 256 KiB"}
                ).encode()
            return json.dumps(result).encode()
        except Exception as exc:  # Lambda reports an unhandled error as a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            self.stack.failed(spec.key, error_type(exc), str(exc))
            return json.dumps({"errorType": error_type(exc), "errorMessage": str(exc)}).encode()
        finally:
            with self._inflight_lock:
                self._inflight -= 1
            self.progress.set()
