"""Each function's grants (``nudgeloop.grants.GRANTS``) rendered as IAM policy statements.

One rendering for three readers: the CDK stack adds these statements to each function's role
(with CloudFormation's pseudo parameters for account, region and partition), the local runtime
evaluates every AWS call a handler makes against them (with moto's account and region), and
``tests/infra/test_permissions.py`` checks that the synthesized roles hold exactly these.

Every ARN is built from resource *names* (all of them come from the catalog), never from the
constructs' attributes: a role can then name the state machine whose tasks it serves without a
dependency cycle, and the same text resolves to the same ARN in the template and locally.
"""

from __future__ import annotations

from dataclasses import dataclass

from nudgeloop.specs import Catalog, FunctionSpec, Grant

# (kind, access) -> IAM actions. Least privilege: only what the code calls.
ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("table", "read"): (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
    ),
    ("table", "write"): (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:DescribeTable",
    ),
    ("table", "put"): ("dynamodb:PutItem",),
    ("table", "export"): ("dynamodb:DescribeTable", "dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport"),
    ("bucket", "read"): ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"),
    ("bucket", "put"): ("s3:PutObject",),
    # an erasure rewrites objects as their only version and deletes every version (services/erasure)
    ("bucket", "erase"): ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    ("bucket", "upload"): ("s3:PutObject", "s3:AbortMultipartUpload"),  # in parts (adapters/objects)
    # DynamoDB writes an export with the caller's rights
    ("bucket", "export"): ("s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"),
    # what Athena does with its caller's rights where it writes results and CTAS tables (its docs)
    ("bucket", "query_output"): (
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
        "s3:PutObject",
    ),
    ("athena", "query"): (
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
    ),
    ("glue", "read"): ("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"),
    ("glue", "write"): ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"),
    ("queue", "send"): ("sqs:SendMessage",),
    ("bus", "put_events"): ("events:PutEvents",),
    ("secret", "read"): ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
    ("parameter", "read"): ("ssm:GetParameter",),
    ("state_machine", "start"): ("states:StartExecution",),
    # an erasure stops the person's running journeys: listed on the state machine, stopped by execution
    ("state_machine", "stop"): ("states:ListExecutions", "states:StopExecution"),
    ("state_machine", "task_response"): ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"),
    ("function", "invoke"): ("lambda:InvokeFunction",),
    ("ses", "send"): ("ses:SendEmail", "ses:SendRawEmail"),
    ("ses", "sending_options"): ("ses:PutConfigurationSetSendingOptions",),
    # API Gateway's management API authorises HTTP verbs on resource paths (adapters/api_keys.py)
    ("api_keys", "read"): ("apigateway:GET",),
    ("api_keys", "create"): ("apigateway:POST",),
    ("api_keys", "tag"): ("apigateway:PUT",),
    ("api_keys", "delete"): ("apigateway:DELETE",),
}

# the paths each API key access reaches: reading keys and the usage plans (to find the stack's),
# creating a key and adding it to the plan, tagging it (its scope), deleting it
API_KEY_PATHS: dict[str, tuple[str, ...]] = {
    "read": ("/apikeys", "/apikeys/*", "/usageplans"),
    "create": ("/apikeys", "/usageplans/*/keys"),
    "tag": ("/tags/*",),
    "delete": ("/apikeys/*",),
}


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]


def function_name(name_or_arn: str) -> str:
    """A function's name from its name or ARN (qualified or not: ``...:function:NAME[:QUALIFIER]``)."""
    return name_or_arn.split(":")[6] if name_or_arn.startswith("arn:") else name_or_arn


def sender_identities(sender: str) -> tuple[str, ...]:
    """The SES identities a From address may send as: its domain, and the address itself
    (``Shop <news@shop.example>`` -> ``shop.example``, ``news@shop.example``)."""
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return tuple(name for name in dict.fromkeys((address.rsplit("@", 1)[-1], address)) if name)


@dataclass(frozen=True)
class Arns:
    """ARNs in one account and region (values or CloudFormation tokens): by resource name
    (``*_named``, what the local runtime sees in a call) and by catalog key (what a grant names)."""

    catalog: Catalog
    account: str
    region: str
    partition: str = "aws"
    sender: str = ""  # the From address: SES authorises sending on its address or domain identity

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def table_named(self, name: str) -> str:
        return name if name.startswith("arn:") else self._arn("dynamodb", f"table/{name}")

    def apigateway(self, path: str) -> str:
        """An API Gateway management resource (its ARNs name no account)."""
        return f"arn:{self.partition}:apigateway:{self.region}::{path}"

    def bucket_named(self, name: str) -> str:
        return f"arn:{self.partition}:s3:::{name}"

    def queue_named(self, name_or_url: str) -> str:
        return self._arn("sqs", name_or_url.rstrip("/").rsplit("/", 1)[-1])

    def bus_named(self, name: str) -> str:
        return name if name.startswith("arn:") else self._arn("events", f"event-bus/{name}")

    def function_named(self, name: str) -> str:
        return self._arn("lambda", f"function:{name}")

    def configuration_set_named(self, name: str) -> str:
        return self._arn("ses", f"configuration-set/{name}")

    def identity_named(self, name: str) -> str:
        return self._arn("ses", f"identity/{name}")

    def table(self, key: str) -> str:
        return self.table_named(self.catalog.table(key).name)

    def workgroup_named(self, name: str) -> str:
        return self._arn("athena", f"workgroup/{name}")

    def glue_catalog(self) -> str:
        return self._arn("glue", "catalog")

    def glue_database_named(self, name: str) -> str:
        return self._arn("glue", f"database/{name}")

    def glue_table_named(self, database: str, name: str) -> str:
        return self._arn("glue", f"table/{database}/{name}")

    def bucket(self, key: str) -> str:
        return self.bucket_named(self.catalog.bucket_name(key, self.account, self.region))

    def queue(self, key: str) -> str:
        return self.queue_named(self.catalog.queue(key).name)

    def bus(self, target: str) -> str:
        return self.bus_named(self.catalog.bus_name if target == "custom" else "default")

    def secret(self, target: str) -> str:
        name = {"signing": self.catalog.signing_secret_name}[target]
        return self._arn("secretsmanager", f"secret:{name}-??????")  # Secrets Manager adds six characters

    def parameter(self, target: str) -> str:
        return self.parameter_named({"webhook": self.catalog.webhook_secret_name}[target])

    def parameter_named(self, name: str) -> str:
        return self._arn("ssm", f"parameter/{name.lstrip('/')}")

    def state_machine(self) -> str:
        return self._arn("states", f"stateMachine:{self.catalog.state_machine_name}")

    def executions(self) -> str:
        """Every execution of the stack's state machine (what StopExecution authorises on)."""
        return self._arn("states", f"execution:{self.catalog.state_machine_name}:*")

    def function(self, key: str) -> str:
        return self.function_named(self.catalog.function(key).name)

    def configuration_set(self, target: str) -> str:
        name = {"marketing": self.catalog.configuration_set, "service": self.catalog.service_configuration_set}[target]
        return self.configuration_set_named(name)

    def ses_identities(self) -> tuple[str, ...]:
        return tuple(self.identity_named(name) for name in sender_identities(self.sender))


def resources_of(grant: Grant, arns: Arns) -> tuple[str, ...]:
    if grant.kind == "table":
        table = arns.table(grant.target)
        if grant.access == "export":
            return (table, f"{table}/export/*")
        return (table, f"{table}/index/*") if grant.access in ("read", "read_write") else (table,)
    if grant.kind == "bucket":
        bucket = arns.bucket(grant.target)
        objects = f"{bucket}/{grant.prefix}*"
        return (bucket, objects) if grant.access in ("read", "query_output") else (objects,)
    if grant.kind == "athena":
        return (arns.workgroup_named(arns.catalog.audience_workgroup),)
    if grant.kind == "glue":
        database = arns.catalog.audience_database
        return (arns.glue_catalog(), arns.glue_database_named(database), arns.glue_table_named(database, "*"))
    if grant.kind == "queue":
        return (arns.queue(grant.target),)
    if grant.kind == "bus":
        return (arns.bus(grant.target),)
    if grant.kind == "secret":
        return (arns.secret(grant.target),)
    if grant.kind == "parameter":
        return (arns.parameter(grant.target),)
    if grant.kind == "state_machine" and grant.access == "stop":
        return (arns.state_machine(), arns.executions())
    if grant.kind == "state_machine":
        return (arns.state_machine(),)
    if grant.kind == "function":
        return (arns.function(grant.target),)
    if grant.kind == "api_keys":
        return tuple(arns.apigateway(path) for path in API_KEY_PATHS[grant.access])
    if grant.kind == "ses" and grant.access == "send":
        return (*arns.ses_identities(), arns.configuration_set("marketing"), arns.configuration_set("service"))
    if grant.kind == "ses":
        return (arns.configuration_set(grant.target),)
    raise ValueError(f"unknown grant kind {grant.kind!r}")


def actions_of(grant: Grant) -> tuple[str, ...]:
    if grant.kind == "table" and grant.access == "read_write":
        return tuple(dict.fromkeys(ACTIONS[("table", "read")] + ACTIONS[("table", "write")]))
    try:
        return ACTIONS[(grant.kind, grant.access)]
    except KeyError:
        raise ValueError(f"unknown access {grant.access!r} for a {grant.kind}") from None


def statements(spec: FunctionSpec, arns: Arns) -> list[Statement]:
    """The policy statements of ``spec``'s role, one per grant (what the handler's code calls)."""
    return [Statement(actions_of(g), resources_of(g, arns)) for g in spec.grants]


def pairs(spec: FunctionSpec, arns: Arns) -> set[tuple[str, str]]:
    """The grants as (action, resource) pairs: what the parity test compares."""
    return {(a, r) for s in statements(spec, arns) for a in s.actions for r in s.resources}
