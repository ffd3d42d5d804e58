"""The vocabulary of the catalog (``resources.catalog``): what a table, queue, rule, function,
stream source, notification, route and grant is. Pure declarations; the CDK constructs and the
local runtime both read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nudgeloop.layout import AUDIENCE_EXPORT_DAYS, PUBLICATION_DAYS, SENT_MAIL_DAYS


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: tuple[str, str]
    sort_key: tuple[str, str] | None = None
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()  # non-key attributes of an INCLUDE projection


@dataclass(frozen=True)
class TableSpec:
    key: str  # logical name used in code and env vars
    name: str
    partition_key: tuple[str, str]
    sort_key: tuple[str, str] | None = None
    global_indexes: tuple[IndexSpec, ...] = ()
    local_indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    stream_view: str | None = None  # NEW_IMAGE: the table's stream feeds a function


@dataclass(frozen=True)
class QueueSpec:
    key: str
    name: str
    dlq_name: str
    # set from the consumer by catalog(): 6 x its timeout + the batching window, as AWS advises
    visibility_timeout_s: int = 0
    max_receive_count: int = 5
    batch_size: int = 10
    batching_window_s: int = 1
    # the event source's maximum concurrency (2-1000): how many consumers at most poll the queue
    max_concurrency: int = 2


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule: to a queue (a consumer that takes batches), or to a function
    invoked asynchronously (one event each, nothing polled while idle: docs/costs.md)."""

    key: str
    name: str
    bus: str  # "default" for the account's default bus (SES events arrive there)
    pattern: dict[str, Any]
    queue_key: str | None = None
    function_key: str | None = None


@dataclass(frozen=True)
class Grant:
    """One permission of a function's role, declared here once: the CDK stack builds the role's
    policy from it (``nudgeloop.permissions``), the local runtime enforces it on every AWS call the
    handler makes, and ``tests/infra/test_permissions.py`` compares it with the synthesized role.

    ``kind`` / ``access``: ``table`` read|write|read_write|put (PutItem only)|export (to S3),
    ``bucket`` read|put|upload (put, in parts)|export (what DynamoDB's export writes with the caller's
    rights)|query_output (what Athena reads and writes there for its caller) (objects under
    ``prefix``), ``athena`` query (the audience workgroup), ``glue`` read|write (the audience
    database and its tables), ``queue`` send, ``bus`` put_events (``target`` "custom"
    or "default"), ``secret`` read ("signing"), ``parameter`` read ("webhook": an SSM
    SecureString), ``state_machine``
    start|task_response, ``function`` invoke, ``ses`` send (the sender's identities, both
    configuration sets) | sending_options (``target`` "marketing" or "service"), ``api_keys``
    read|create|tag|delete (the stack's API keys and its usage plan, ``permissions.API_KEY_PATHS``).
    """

    kind: str
    target: str
    access: str
    prefix: str = ""


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    name: str
    code_dir: str  # folder under functions/
    handler: str  # module.function inside code_dir
    description: str
    timeout_s: int = 30
    memory_mb: int = 512
    queue_key: str | None = None  # SQS event source
    schedule: str | None = None  # EventBridge schedule expression
    env: tuple[str, ...] = ()  # keys of Settings fields this function needs
    layers: tuple[str, ...] = ("common",)  # "science" adds numpy and scipy
    grants: tuple[Grant, ...] = ()  # what its role may do (beyond logs, tracing, its event sources)
    # reserved concurrency (None: the account's unreserved pool); docs/operations.md says why each
    reserved_concurrency: int | None = None
    # asynchronous invocations (schedules, fan-out): Lambda's retries (0-2) and the oldest event it
    # still runs (60 s - 6 h) before the invocation goes to the function's on-failure queue
    async_retries: int = 1
    async_max_age_s: int = 6 * 3600


@dataclass(frozen=True)
class StreamSourceSpec:
    """How a table's stream feeds a function (mirrors the Lambda event source mapping)."""

    table_key: str
    function_key: str
    dlq_name: str
    batch_size: int = 100
    retry_attempts: int = 5
    event_names: tuple[str, ...] = ("INSERT",)
    max_batching_window_s: int = 1
    # Split a failing batch in halves to isolate a bad record. Off for a consumer whose
    # idempotency relies on a retry starting from the same first record (the step counts).
    bisect_on_error: bool = True
    # concurrent batches per stream shard (1-10); records of one partition key stay in order
    parallelization_factor: int = 1


@dataclass(frozen=True)
class NotificationSpec:
    """S3 ObjectCreated notifications of a bucket prefix (one configuration per suffix) to a
    queue, or to a function invoked asynchronously."""

    bucket_key: str
    prefix: str
    suffixes: tuple[str, ...]
    queue_key: str | None = None
    function_key: str | None = None


@dataclass(frozen=True)
class ExpirySpec:
    """A bucket prefix whose objects expire (an S3 lifecycle rule; noncurrent versions a day later)."""

    bucket_key: str
    prefix: str
    days: int


@dataclass(frozen=True)
class Retention:
    """How long the two archives without a natural end keep what they hold (docs/privacy.md);
    0: until deleted. The raw event archive is also what audiences read behaviour from, so its
    retention bounds how far back an audience sees. And how long the audience files made for
    marketers and other tools are kept."""

    raw_archive_days: int = 0
    sent_mail_days: int = SENT_MAIL_DAYS  # as long as the campaign mail index lists them
    # the files made for marketers and other tools: one-off audience exports, daily publications
    audience_export_days: int = AUDIENCE_EXPORT_DAYS
    publication_days: int = PUBLICATION_DAYS

    def __post_init__(self) -> None:
        for name in ("raw_archive_days", "sent_mail_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 36500:
                raise ValueError(f"{name}={value!r}: a whole number of days, 0 (kept until deleted) to 36500")
        for name in ("audience_export_days", "publication_days"):  # copies: they always expire
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 36500:
                raise ValueError(f"{name}={value!r}: a whole number of days, 1 to 36500")


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    api_key_required: bool = True
    # requests per second and burst of this method on its own: a route without an API key has no
    # usage plan, so without this a flood of it would use up the stage's limit for keyed callers
    rate_limit: int | None = None
    burst_limit: int | None = None
    # the key scopes that may call it besides ``admin`` (``domain/access.py``); none: admin keys only
    scopes: tuple[str, ...] = ()


def usage_plan_name(prefix: str) -> str:
    """The usage plan that holds the stack's API keys (API Gateway accepts only keys in it)."""
    return f"{prefix}-default"


def failures_queue_name(prefix: str) -> str:
    """The one queue for what failed outside a queue (each alarmed queue is billed every month:
    docs/costs.md): the table streams' batches whose retries are spent and asynchronous
    invocations whose retries are spent (Lambda's on-failure records: each names the function,
    a stream's its batch), schedule events EventBridge could not deliver to their function, and
    bus events it could not deliver to a rule's target (both with EventBridge's RULE_ARN,
    TARGET_ARN and ERROR_CODE message attributes)."""
    return f"{prefix}-failures"


@dataclass(frozen=True)
class Catalog:
    prefix: str
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    rules: tuple[RuleSpec, ...]
    functions: tuple[FunctionSpec, ...]
    routes: tuple[RouteSpec, ...]
    streams: tuple[StreamSourceSpec, ...]
    bus_name: str
    state_machine_name: str
    configuration_set: str  # marketing mail: paused by the reputation circuit breaker
    service_configuration_set: str  # service mail (confirmations, booking reminders): never paused
    signing_secret_name: str
    webhook_secret_name: str
    bucket_stems: dict[str, str] = field(default_factory=dict)
    notifications: tuple[NotificationSpec, ...] = ()
    expirations: tuple[ExpirySpec, ...] = ()
    audience_database: str = ""  # the Glue database of the audience tables (docs/audiences.md)
    audience_workgroup: str = ""  # the Athena workgroup every audience query runs in

    def table(self, key: str) -> TableSpec:
        return next(t for t in self.tables if t.key == key)

    def queue(self, key: str) -> QueueSpec:
        return next(q for q in self.queues if q.key == key)

    def function(self, key: str) -> FunctionSpec:
        return next(f for f in self.functions if f.key == key)

    def expiry_days(self, prefix: str) -> int | None:
        """How many days objects under ``prefix`` are kept (None: until deleted)."""
        return next((e.days for e in self.expirations if e.prefix == prefix), None)

    @property
    def failures_queue(self) -> str:
        return failures_queue_name(self.prefix)

    def invoked_asynchronously(self, spec: FunctionSpec) -> bool:
        """Whether something invokes the function asynchronously: its schedule, an S3
        notification, a bus rule, or a function granted to invoke it (the daily run's fan-out to
        itself, an import's continuation, an audience export requested by the API)."""
        return bool(
            spec.schedule
            or any(n.function_key == spec.key for n in self.notifications)
            or any(r.function_key == spec.key for r in self.rules)
            or any(g == Grant("function", spec.key, "invoke") for f in self.functions for g in f.grants)
        )

    def failure_queue(self, spec: FunctionSpec) -> str | None:
        """The on-failure destination of a function invoked asynchronously: where an invocation
        goes once its retries are spent."""
        return self.failures_queue if self.invoked_asynchronously(spec) else None

    def bucket_name(self, key: str, account: str, region: str) -> str:
        """Bucket names are global: the stem plus account and region keeps them unique."""
        return f"{self.bucket_stems[key]}-{account}-{region}"
