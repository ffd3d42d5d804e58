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
- **Request limits** (``limits.py``), checked by the same hook on every call.

``docs/operations.md`` lists what is enforced and what is not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from nudgeloop.permissions import Arns, function_name, sender_identities, statements
from nudgeloop.specs import Catalog, FunctionSpec

from .limits import aws_error, check_limits, correct_moto_item_size

# botocore service name -> IAM service prefix
_PREFIX = {"stepfunctions": "states", "sesv2": "ses", "dynamodbstreams": "dynamodb"}
# How each service names a refusal (error code, HTTP status).
_DENIED = {
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "ses": ("AccessDenied", 403),
    "sesv2": ("AccessDeniedException", 403),
    "lambda": ("AccessDeniedException", 403),
    "apigateway": ("AccessDeniedException", 403),
}


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
            raise aws_error(
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
        if not self.policies[function_key].allows("s3:ListBucket", self.arns.bucket_named(str(params.get("Bucket")))):
            raise aws_error(operation, "AccessDenied", "Access Denied", 403) from exc

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

    def _dynamodb(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "DescribeTimeToLive"):
            return [(f"dynamodb:{op}", self.arns.table_named(p["TableName"]))]
        if op in ("Query", "Scan"):
            table = self.arns.table_named(p["TableName"])
            return [(f"dynamodb:{op}", f"{table}/index/{p['IndexName']}" if p.get("IndexName") else table)]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{op}", self.arns.table_named(t)) for t in p.get("RequestItems", {})]
        if op == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
            return [
                (f"dynamodb:{kinds[kind]}", self.arns.table_named(body["TableName"]))
                for item in p.get("TransactItems", [])
                for kind, body in item.items()
            ]
        if op == "ExportTableToPointInTime":  # DynamoDB writes the export with the caller's rights
            where = f"{self.arns.bucket_named(str(p.get('S3Bucket')))}/{p.get('S3Prefix', '')}/"
            return [("dynamodb:ExportTableToPointInTime", p["TableArn"]), ("s3:PutObject", f"{where}AWSDynamoDB/data")]
        if op == "DescribeExport":
            return [("dynamodb:DescribeExport", p["ExportArn"])]
        if op == "TransactGetItems":
            return [("dynamodb:GetItem", self.arns.table_named(i["Get"]["TableName"])) for i in p.get("TransactItems", [])]
        return None

    def _dynamodbstreams(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        arn = p.get("StreamArn") or "*"
        return [(f"dynamodb:{op}", arn)]

    def _s3(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        bucket = self.arns.bucket_named(str(p.get("Bucket")))
        obj = f"{bucket}/{p.get('Key')}"
        versioned = "Version" if p.get("VersionId") else ""
        if op in ("GetObject", "HeadObject"):
            return [(f"s3:GetObject{versioned}", obj)]
        if op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
            return [("s3:PutObject", obj)]  # a multipart upload needs what a PutObject does (S3's docs)
        if op == "AbortMultipartUpload":
            return [("s3:AbortMultipartUpload", obj)]
        if op == "ListParts":
            return [("s3:ListMultipartUploadParts", obj)]
        if op == "DeleteObject":
            return [(f"s3:DeleteObject{versioned}", obj)]
        if op == "DeleteObjects":  # each key as its own DeleteObject would be: a version needs DeleteObjectVersion
            objects = p.get("Delete", {}).get("Objects", [])
            return [(f"s3:DeleteObject{'Version' if o.get('VersionId') else ''}", f"{bucket}/{o['Key']}") for o in objects]
        if op == "CopyObject":
            source = p.get("CopySource")
            text = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else unquote(str(source)).split("?")[0]
            return [("s3:PutObject", obj), ("s3:GetObject", self.arns.bucket_named(text.lstrip("/")))]
        if op in ("ListObjects", "ListObjectsV2"):
            return [("s3:ListBucket", bucket)]
        if op == "ListObjectVersions":
            return [("s3:ListBucketVersions", bucket)]
        return [(f"s3:{op}", bucket)]

    def _sqs(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        action = {
            "SendMessageBatch": "SendMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
        }.get(op, op)
        if "QueueUrl" in p:
            return [(f"sqs:{action}", self.arns.queue_named(p["QueueUrl"]))]
        if "QueueName" in p:
            return [(f"sqs:{action}", self.arns.queue_named(p["QueueName"]))]
        return None

    def _events(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op != "PutEvents":
            return None
        return [("events:PutEvents", self.arns.bus_named(e.get("EventBusName") or "default")) for e in p.get("Entries", [])]

    def _stepfunctions(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("StartExecution", "StartSyncExecution", "ListExecutions", "DescribeStateMachine"):
            return [(f"states:{op}", p.get("stateMachineArn", ""))]
        if op in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [(f"states:{op}", p.get("executionArn", ""))]
        if op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
            return [(f"states:{op}", self.arns.state_machine())]  # the stack's one state machine issued the token
        return None

    def _athena(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op == "StartQueryExecution":
            return [("athena:StartQueryExecution", self.arns.workgroup_named(p.get("WorkGroup") or "primary"))]
        if op in ("GetQueryExecution", "GetQueryResults", "StopQueryExecution"):
            from moto.athena.models import athena_backends  # the execution's workgroup, as AWS knows it

            execution = athena_backends[self.account][self.region].executions.get(p.get("QueryExecutionId", ""))
            group = execution.workgroup.name if execution is not None and execution.workgroup is not None else "primary"
            return [(f"athena:{op}", self.arns.workgroup_named(group))]
        return None

    def _glue(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        """Glue authorises a table call on the catalog, the database and the table."""
        database = str(p.get("DatabaseName") or p.get("Name") or "")
        found = [(f"glue:{op}", self.arns.glue_catalog()), (f"glue:{op}", self.arns.glue_database_named(database))]
        table = p.get("TableInput", {}).get("Name") if "TableInput" in p else p.get("Name") if "DatabaseName" in p else None
        if table:
            found.append((f"glue:{op}", self.arns.glue_table_named(database, str(table))))
        return found

    def _identities(self, source: str) -> tuple[str, ...]:
        return tuple(self.arns.identity_named(name) for name in sender_identities(source))

    def _sesv2(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op == "SendEmail":
            out: list[tuple[str, Any]] = [("ses:SendEmail", self._identities(p.get("FromEmailAddress", "")))]
            if p.get("ConfigurationSetName"):
                out.append(("ses:SendEmail", self.arns.configuration_set_named(p["ConfigurationSetName"])))
            return out
        if "ConfigurationSetName" in p:
            return [(f"ses:{op}", self.arns.configuration_set_named(p["ConfigurationSetName"]))]
        return None

    def _ses(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("SendEmail", "SendRawEmail"):
            return [(f"ses:{op}", self._identities(p.get("Source", "")))]
        return None

    def _secretsmanager(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        secret = str(p.get("SecretId", ""))
        return [(f"secretsmanager:{op}", self.secret_arns.get(secret, secret))]

    def _ssm(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op in ("GetParameter", "GetParameters"):
            names = [p["Name"]] if op == "GetParameter" else list(p.get("Names", []))
            return [(f"ssm:{op}", tuple(self.arns.parameter_named(str(n)) for n in names))]
        return None

    def _lambda(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        if op not in ("Invoke", "InvokeAsync"):
            return None
        return [("lambda:InvokeFunction", self.arns.function_named(function_name(str(p.get("FunctionName", "")))))]

    def _apigateway(self, op: str, p: dict[str, Any]) -> list[tuple[str, Any]] | None:
        """API Gateway's management API: an HTTP verb on the resource's path (the key
        operations the API function calls; anything else falls through to be refused)."""
        key = str(p.get("apiKey", ""))
        paths = {
            "GetApiKeys": ("GET", "/apikeys"),
            "GetApiKey": ("GET", f"/apikeys/{key}"),
            "CreateApiKey": ("POST", "/apikeys"),
            "DeleteApiKey": ("DELETE", f"/apikeys/{key}"),
            "GetUsagePlans": ("GET", "/usageplans"),
            "CreateUsagePlanKey": ("POST", f"/usageplans/{p.get('usagePlanId', '')}/keys"),
        }
        if op not in paths:
            return None
        verb, path = paths[op]
        wanted = [(f"apigateway:{verb}", self.arns.apigateway(path))]
        if op == "CreateApiKey" and p.get("tags"):  # tagged on create: asked as tagging too (docs/operations.md)
            wanted.append(("apigateway:PUT", self.arns.apigateway(f"/tags/{self.arns.apigateway('/apikeys/new')}")))
        return wanted
