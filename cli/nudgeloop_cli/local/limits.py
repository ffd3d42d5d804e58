"""AWS's limits that moto does not apply, enforced by the local runtime (and one place where moto
is stricter than AWS, corrected): the request limits, checked on every call of the process by
``fidelity.Enforcer``'s hook; Step Functions Standard's limits on the simulated clock, applied by
the driver whenever the stack settles. ``docs/operations.md`` lists what is enforced and what not.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from botocore.exceptions import ClientError

KIB = 1024
LIMITS = {
    "batch_write_items": 25,
    "batch_get_keys": 100,
    "transact_items": 100,
    "put_events_entries": 10,
    "put_events_bytes": 256 * KIB,
    "sqs_message_bytes": 1024 * KIB,
    "sfn_payload_bytes": 256 * KIB,
    "lambda_async_bytes": 1024 * KIB,
    "lambda_sync_bytes": 6 * 1024 * KIB,
    "execution_name_chars": 80,
}
# Step Functions: names may not contain whitespace, brackets, wildcards, these specials or controls.
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def aws_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    """A refusal shaped as botocore raises AWS's own."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "RequestId": str(uuid.uuid4()),
                "HostId": "",
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        operation,
    )


# ------------------------------------------------------------------ request limits


def _size(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "read"):
        return 0  # a stream: not ours to measure
    return len(str(value).encode())


def _validation(operation: str, message: str, code: str = "ValidationException") -> ClientError:
    return aws_error(operation, code, message, 400)


def check_limits(service: str, operation: str, params: dict[str, Any]) -> None:
    """Refuse, as AWS does, the requests moto would accept beyond the documented limits."""
    if service == "dynamodb":
        if operation == "BatchWriteItem":
            count = sum(len(v) for v in params.get("RequestItems", {}).values())
            if count > LIMITS["batch_write_items"]:
                raise _validation(operation, "Too many items requested for the BatchWriteItem call")
        elif operation == "BatchGetItem":
            count = sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())
            if count > LIMITS["batch_get_keys"]:
                raise _validation(operation, "Too many items requested for the BatchGetItem call")
        elif operation in ("TransactWriteItems", "TransactGetItems"):
            count = len(params.get("TransactItems", []))
            if count > LIMITS["transact_items"]:
                raise _validation(
                    operation,
                    "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {LIMITS['transact_items']}",
                )
    elif service == "events" and operation == "PutEvents":
        entries = params.get("Entries", [])
        if len(entries) > LIMITS["put_events_entries"]:
            raise _validation(
                operation,
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                f"Member must have length less than or equal to {LIMITS['put_events_entries']}",
            )
        total = sum(
            (14 if e.get("Time") else 0)
            + _size(e.get("Source"))
            + _size(e.get("DetailType"))
            + _size(e.get("Detail"))
            + sum(_size(r) for r in e.get("Resources", []))
            for e in entries
        )
        if total > LIMITS["put_events_bytes"]:
            raise _validation(operation, f"Total size of the entries in the request is over the limit ({total} bytes)")
    elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        bodies = [params] if operation == "SendMessage" else params.get("Entries", [])
        sizes = [
            _size(b.get("MessageBody"))
            + sum(
                _size(k) + _size(v.get("DataType")) + _size(v.get("StringValue"))
                for k, v in (b.get("MessageAttributes") or {}).items()
            )
            for b in bodies
        ]
        limit = LIMITS["sqs_message_bytes"]
        if any(s > limit for s in sizes) or sum(sizes) > limit:
            code = "InvalidParameterValue" if operation == "SendMessage" else "BatchRequestTooLong"
            raise _validation(
                operation, f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.", code
            )
    elif service == "stepfunctions":
        if operation == "StartExecution":
            name = str(params.get("name", ""))
            if not name or len(name) > LIMITS["execution_name_chars"] or _BAD_NAME.search(name):
                raise _validation(operation, f"Invalid Name: '{name}'", "InvalidName")
            if _size(params.get("input")) > LIMITS["sfn_payload_bytes"]:
                raise _validation(operation, "The input exceeds the 256 KiB limit", "InvalidExecutionInput")
        elif operation == "SendTaskSuccess" and _size(params.get("output")) > LIMITS["sfn_payload_bytes"]:
            raise _validation(operation, "The output exceeds the 256 KiB limit", "InvalidOutput")
    elif service == "lambda" and operation == "Invoke":
        limit = LIMITS["lambda_async_bytes"] if params.get("InvocationType") == "Event" else LIMITS["lambda_sync_bytes"]
        if _size(params.get("Payload")) > limit:
            raise _validation(
                operation, f"Request must be smaller than {limit} bytes for the Invoke operation", "RequestTooLargeException"
            )


def state_output_too_large(result: Any) -> bool:
    """A task result over 256 KiB fails the state with States.DataLimitExceeded."""
    return len(json.dumps(result).encode()) > LIMITS["sfn_payload_bytes"]


# ------------------------------------------------------------------ Step Functions Standard's limits


STANDARD_MAX_AGE = 365 * 86400  # seconds an execution may run
STANDARD_MAX_HISTORY = 25_000  # history events an execution may have
NAME_RESERVED_DAYS = 90  # a closed execution's name may not be reused for this long


class StepFunctionsLimits:
    """What moto's Step Functions does not apply, on the local runtime's (simulated) clock: an
    execution that runs for a year times out (``TIMED_OUT``, ``States.Timeout``), one that reaches
    25,000 history events fails (``States.Runtime``), and a closed execution's name is forgotten
    90 days after it closed (AWS reserves names that long; moto forever)."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self.started_at: dict[str, float] = {}  # execution ARN -> simulated start (epoch seconds)
        self.closed_at: dict[str, float] = {}  # execution ARN -> simulated close, as first seen
        self.ended: list[dict[str, str]] = []  # what the limits ended, for tests and the report

    def observe(self, service: str, operation: str, params: dict[str, Any], result: Any, now: float) -> None:
        if service == "stepfunctions" and operation == "StartExecution":
            self.started_at.setdefault(result["executionArn"], now)
        if service == "stepfunctions" and operation == "StopExecution":
            self._aborted(str(params.get("executionArn")))

    def _aborted(self, arn: str) -> None:
        """StopExecution ends an execution at once in AWS (``ABORTED``), also one waiting for a
        task token. moto marks the stop but its worker waits on for the token (the journey
        stays ``RUNNING`` without a timer): its waiting tasks are answered with a failure (a Catch
        may match ``Nudgeloop.Stopped``, but the stopped program runs no state after it) and, once
        the worker has ended, the status is what AWS shows."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure

        for machine in self._backend().state_machines:
            for execution in machine.executions:
                if execution.execution_arn != arn or execution.exec_worker is None:
                    continue
                pool = execution.exec_worker.env.callback_pool_manager
                for callback_id in list(pool._pool):
                    pool.notify(callback_id, CallbackOutcomeFailure(callback_id, "Nudgeloop.Stopped", "stopped"))
                _wait_until_closed(execution)
                # the unhandled failure ends the worker's program as FAILED; AWS shows the stop
                execution.exec_status = ExecutionStatus.ABORTED

    def _backend(self) -> Any:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends[self.account][self.region]

    def sweep(self, now: float) -> int:
        """Apply the limits at simulated time ``now``; returns how many executions it changed."""
        changed = 0
        for machine in list(self._backend().state_machines):
            for execution in list(machine.executions):
                arn = execution.execution_arn
                if execution.status == "RUNNING":
                    started = self.started_at.setdefault(arn, now)
                    history = _history_length(execution)
                    if now - started >= STANDARD_MAX_AGE:
                        self._end(execution, "TIMED_OUT", "States.Timeout", "the execution ran for a year")
                        changed += 1
                    elif history >= STANDARD_MAX_HISTORY:
                        self._end(
                            execution, "FAILED", "States.Runtime", f"the execution reached {STANDARD_MAX_HISTORY} history events"
                        )
                        changed += 1
                    continue
                closed = self.closed_at.setdefault(arn, now)
                if now - closed >= NAME_RESERVED_DAYS * 86400:
                    machine.executions.remove(execution)  # its name may be used again, as in AWS
                    self.closed_at.pop(arn, None)
                    self.started_at.pop(arn, None)
                    changed += 1
        return changed

    def _end(self, execution: Any, status: str, error: str, cause: str) -> None:
        """Stop the execution as AWS would end it at the limit (moto only knows ABORTED for a stop)."""
        import datetime

        from moto.stepfunctions.parser.api import ExecutionStatus

        execution.stop(stop_date=datetime.datetime.now(tz=datetime.UTC), error=error, cause=cause)
        _wait_until_closed(execution)  # the worker thread reflects the stop; then the status AWS would show
        execution.exec_status = ExecutionStatus(status)
        execution.error, execution.cause = error, cause
        self.ended.append({"execution": execution.name, "status": status, "error": error})


def _wait_until_closed(execution: Any, seconds: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while execution.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)


def _history_length(execution: Any) -> int:
    worker = execution.exec_worker
    env = getattr(worker, "env", None) if worker else None
    manager = getattr(env, "event_manager", None)
    return len(manager._history_event_list) if manager is not None else 0


# ------------------------------------------------------------------ where moto is stricter than AWS


def correct_moto_item_size() -> None:
    """DynamoDB limits the size of the item an update *results in*. moto checks the item after
    each action of an update expression, against the item as it was (replaced values included),
    so an update that grows one attribute and shrinks another fails there and succeeds in AWS.
    Check as AWS does: the whole resulting item, once (moto's own limit, 405,000 bytes, is kept)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.parsing import executors

    cls = executors.UpdateExpressionExecutor
    if getattr(cls, "_nudgeloop_corrected", False):
        return
    original = cls.execute

    def execute(self: Any, node: Any = None) -> None:
        if node is not None:  # the executor's own recursion
            original(self, node)
            return
        item = self.item
        before = item.attrs
        item.attrs = dict(before)  # no check per action
        try:
            original(self)
            size = sum(len(k.encode()) + v.size() for k, v in item.attrs.items())
            if size > 405000:
                raise ItemSizeTooLarge
        except BaseException:
            item.attrs = before
            raise
        item.attrs = dynamo_type.LimitedSizeDict(item.attrs)

    cls.execute = execute  # type: ignore[method-assign]
    cls._nudgeloop_corrected = True  # type: ignore[attr-defined]
