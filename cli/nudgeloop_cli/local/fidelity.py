"""What AWS refuses and moto does not: the local runtime's enforcement of permissions and limits.

moto evaluates no IAM for most services and skips several request limits. This module sits in
front of every AWS call of the process (botocore's ``BaseClient._make_api_call``, which boto3
clients and PynamoDB both go through) while the local stack runs:

- **Permissions.** While a handler runs (``acting_as``), each call is turned into the IAM
  actions and resource ARNs AWS authorises it by (per contained action and table for
  ``TransactWriteItems``, per table for the batch calls, per entry's bus for ``PutEvents``) and
  checked against that function's role, rendered from the catalog's one declaration
  (``nudgeloop.permissions``). A call outside it fails with the error AWS answers
  (``AccessDeniedException`` or ``AccessDenied``, same message shape). The driver's own calls
  (AWS's glue: event source mappings, schedules, provisioning) are not checked, as AWS's are not
  made with the function's role either.
- **Request limits.** 25 items per ``BatchWriteItem``, 100 keys per ``BatchGetItem``, 100
  actions per ``TransactWriteItems``, 10 entries and 256 KB per ``PutEvents``, 1 MiB per SQS
  message (and per batch), 256 KiB of Step Functions execution input and task output, execution
  names as AWS accepts them, 1 MB per asynchronous and 6 MB per synchronous Lambda payload.

``docs/operations.md`` lists what is enforced and what is not.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from nudgeloop.permissions import Arns, statements
from nudgeloop.resources import Catalog, FunctionSpec

# botocore service name -> IAM service prefix
_PREFIX = {"stepfunctions": "states", "sesv2": "ses", "dynamodbstreams": "dynamodb"}
# How each service names a refusal (error code, HTTP status).
_DENIED = {
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "ses": ("AccessDenied", 403),
    "sesv2": ("AccessDeniedException", 403),
    "lambda": ("AccessDeniedException", 403),
}
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


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


@dataclass
class Policy:
    """One role's allow statements, compiled."""

    rules: list[tuple[list[re.Pattern[str]], list[re.Pattern[str]]]] = field(default_factory=list)

    def allows(self, action: str, resource: str) -> bool:
        return any(
            any(a.match(action) for a in actions) and any(r.match(resource) for r in resources)
            for actions, resources in self.rules
        )


def _error(service: str, operation: str, code: str, message: str, status: int = 400) -> ClientError:
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


class Enforcer:
    """Checks every AWS call made while a handler runs against that function's role."""

    def __init__(self, catalog: Catalog, account: str, region: str, sender: str, secret_arns: dict[str, str]) -> None:
        self.catalog = catalog
        self.account = account
        self.region = region
        self.arns = Arns(catalog, account, region, sender=sender)
        self.secret_arns = secret_arns  # name -> ARN (Secrets Manager's six-character suffix)
        self.policies: dict[str, Policy] = {}
        for spec in catalog.functions:
            self.policies[spec.key] = self.compile(spec)
        self._acting: dict[int, list[str]] = {}  # thread -> the functions it runs as (nested invokes)
        self._guard = threading.Lock()
        self.denials: list[dict[str, str]] = []
        self._original: Callable[..., Any] | None = None
        self._original_submit: Callable[..., Any] | None = None
        # (service, operation, params, result) of each successful call: how the local runtime
        # learns what AWS would know afterwards (e.g. the configuration set a mail went out with)
        self.observers: list[Callable[[str, str, dict[str, Any], Any], None]] = []

    def compile(self, spec: FunctionSpec) -> Policy:
        policy = Policy()
        for statement in statements(spec, self.arns):
            policy.rules.append(
                (
                    [_glob(a, ignore_case=True) for a in statement.actions],
                    [_glob(r) for r in statement.resources],
                )
            )
        return policy

    # -------------------------------------------------------------- who is calling

    @contextmanager
    def acting_as(self, function_key: str) -> Iterator[None]:
        """AWS calls this thread makes until the block ends are the function's (and those of the
        threads it hands work to through an executor, as in a Lambda process). Other threads,
        moto's Step Functions interpreter among them, are AWS itself."""
        thread = threading.get_ident()
        with self._guard:
            self._acting.setdefault(thread, []).append(function_key)
        try:
            yield
        finally:
            with self._guard:
                stack = self._acting[thread]
                stack.pop()
                if not stack:
                    del self._acting[thread]

    @property
    def current(self) -> str | None:
        stack = self._acting.get(threading.get_ident())
        return stack[-1] if stack else None

    # -------------------------------------------------------------- the hook

    def install(self) -> None:
        if self._original is not None:
            return
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        self._original = original
        enforcer = self

        def _make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            check_limits(service, operation_name, api_params)
            function_key = enforcer.current
            if function_key is not None:
                enforcer.authorize(function_key, service, operation_name, api_params)
            try:
                result = original(client, operation_name, api_params)
            except ClientError as exc:
                if function_key is not None:
                    enforcer.hide_missing_object(function_key, service, operation_name, api_params, exc)
                raise
            for observe in enforcer.observers:
                observe(service, operation_name, api_params, result)
            return result

        BaseClient._make_api_call = _make_api_call  # type: ignore[attr-defined]
        correct_moto_item_size()

        original_submit = ThreadPoolExecutor.submit
        self._original_submit = original_submit

        def submit(pool: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            function_key = enforcer.current
            if function_key is None:
                return original_submit(pool, fn, *args, **kwargs)

            def as_caller() -> Any:
                with enforcer.acting_as(function_key):
                    return fn(*args, **kwargs)

            return original_submit(pool, as_caller)

        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            BaseClient._make_api_call = self._original  # type: ignore[attr-defined]
            self._original = None
        if self._original_submit is not None:
            ThreadPoolExecutor.submit = self._original_submit  # type: ignore[method-assign]
            self._original_submit = None

    def authorize(self, function_key: str, service: str, operation: str, params: dict[str, Any]) -> None:
        policy = self.policies[function_key]
        for action, wanted in self.requested(service, operation, params):
            candidates = wanted if isinstance(wanted, tuple) else (wanted,)  # SES: any one identity will do
            if any(policy.allows(action, r) for r in candidates):
                continue
            resource = candidates[0]
            self.denials.append({"function": function_key, "action": action, "resource": resource})
            name = self.catalog.function(function_key).name
            code, status = _DENIED.get(service, ("AccessDeniedException", 400))
            raise _error(
                service,
                operation,
                code,
                f"User: arn:aws:sts::{self.account}:assumed-role/{name}-role/{name} is not authorized to perform: "
                f"{action} on resource: {resource} because no identity-based policy allows the {action} action",
                status,
            )

    def hide_missing_object(
        self, function_key: str, service: str, operation: str, params: dict[str, Any], exc: ClientError
    ) -> None:
        """S3 answers 403, not 404, for a missing object to a caller who may not list the bucket."""
        if service != "s3" or exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            return
        bucket = f"arn:aws:s3:::{params.get('Bucket')}"
        if not self.policies[function_key].allows("s3:ListBucket", bucket):
            raise _error(service, operation, "AccessDenied", "Access Denied", 403) from exc

    # -------------------------------------------------------------- call -> (action, resource)

    def requested(self, service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, Any]]:
        prefix = _PREFIX.get(service, service)
        mapper = getattr(self, f"_{service}", None)
        if mapper is not None:
            found = mapper(operation, params)
            if found is not None:
                return list(found)
        if service == "sts" and operation == "GetCallerIdentity":
            return []  # needs no permission in AWS
        return [(f"{prefix}:{operation}", "*")]

    def _table(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def _dynamodb(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "DescribeTimeToLive"):
            return [(f"dynamodb:{op}", self._table(p["TableName"]))]
        if op in ("Query", "Scan"):
            table = self._table(p["TableName"])
            return [(f"dynamodb:{op}", f"{table}/index/{p['IndexName']}" if p.get("IndexName") else table)]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{op}", self._table(t)) for t in p.get("RequestItems", {})]
        if op == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
            return [
                (f"dynamodb:{kinds[kind]}", self._table(body["TableName"]))
                for item in p.get("TransactItems", [])
                for kind, body in item.items()
            ]
        if op == "TransactGetItems":
            return [("dynamodb:GetItem", self._table(i["Get"]["TableName"])) for i in p.get("TransactItems", [])]
        return None

    def _dynamodbstreams(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        arn = p.get("StreamArn") or "*"
        return [(f"dynamodb:{op}", arn)]

    def _s3(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        bucket = f"arn:aws:s3:::{p.get('Bucket')}"
        obj = f"{bucket}/{p.get('Key')}"
        versioned = "Version" if p.get("VersionId") else ""
        if op in ("GetObject", "HeadObject"):
            return [(f"s3:GetObject{versioned}", obj)]
        if op == "PutObject":
            return [("s3:PutObject", obj)]
        if op == "DeleteObject":
            return [(f"s3:DeleteObject{versioned}", obj)]
        if op == "DeleteObjects":
            return [("s3:DeleteObject", f"{bucket}/{o['Key']}") for o in p.get("Delete", {}).get("Objects", [])]
        if op == "CopyObject":
            source = p.get("CopySource")
            text = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else unquote(str(source)).split("?")[0]
            return [("s3:PutObject", obj), ("s3:GetObject", f"arn:aws:s3:::{text.lstrip('/')}")]
        if op in ("ListObjects", "ListObjectsV2"):
            return [("s3:ListBucket", bucket)]
        if op == "ListObjectVersions":
            return [("s3:ListBucketVersions", bucket)]
        return [(f"s3:{op}", bucket)]

    def _queue(self, url: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{url.rstrip('/').rsplit('/', 1)[-1]}"

    def _sqs(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        action = {
            "SendMessageBatch": "SendMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
        }.get(op, op)
        if "QueueUrl" in p:
            return [(f"sqs:{action}", self._queue(p["QueueUrl"]))]
        if "QueueName" in p:
            return [(f"sqs:{action}", self._queue(p["QueueName"]))]
        return None

    def _events(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op != "PutEvents":
            return None
        out = []
        for entry in p.get("Entries", []):
            bus = entry.get("EventBusName") or "default"
            out.append(
                (
                    "events:PutEvents",
                    bus if bus.startswith("arn:") else f"arn:aws:events:{self.region}:{self.account}:event-bus/{bus}",
                )
            )
        return out

    def _stepfunctions(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("StartExecution", "StartSyncExecution", "ListExecutions", "DescribeStateMachine"):
            return [(f"states:{op}", p.get("stateMachineArn", ""))]
        if op in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [(f"states:{op}", p.get("executionArn", ""))]
        if op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
            return [(f"states:{op}", self.arns.state_machine())]  # the stack's one state machine issued the token
        return None

    def _identities(self, source: str) -> tuple[str, ...]:
        address = source.rsplit("<", 1)[-1].rstrip(">").strip()
        domain = address.rsplit("@", 1)[-1]
        return tuple(f"arn:aws:ses:{self.region}:{self.account}:identity/{name}" for name in (domain, address))

    def _config_set(self, name: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:configuration-set/{name}"

    def _sesv2(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op == "SendEmail":
            out: list[tuple[str, Any]] = [("ses:SendEmail", self._identities(p.get("FromEmailAddress", "")))]
            if p.get("ConfigurationSetName"):
                out.append(("ses:SendEmail", self._config_set(p["ConfigurationSetName"])))
            return out
        if "ConfigurationSetName" in p:
            return [(f"ses:{op}", self._config_set(p["ConfigurationSetName"]))]
        return None

    def _ses(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("SendEmail", "SendRawEmail"):
            return [(f"ses:{op}", self._identities(p.get("Source", "")))]
        return None

    def _secretsmanager(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        secret = str(p.get("SecretId", ""))
        return [(f"secretsmanager:{op}", self.secret_arns.get(secret, secret))]

    def _lambda(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op not in ("Invoke", "InvokeAsync"):
            return None
        name = str(p.get("FunctionName", ""))
        if name.startswith("arn:"):
            name = name.split(":")[6]
        return [("lambda:InvokeFunction", self.arns.function_named(name))]


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
    return _error("", operation, code, message, 400)


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
        import time

        from moto.stepfunctions.parser.api import ExecutionStatus

        execution.stop(stop_date=datetime.datetime.now(tz=datetime.UTC), error=error, cause=cause)
        for _ in range(500):  # the worker thread reflects the stop; then the status AWS would show
            if execution.status != "RUNNING":
                break
            time.sleep(0.01)
        execution.exec_status = ExecutionStatus(status)
        execution.error, execution.cause = error, cause
        self.ended.append({"execution": execution.name, "status": status, "error": error})


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
