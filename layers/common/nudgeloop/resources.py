"""One source of truth for resource names, keys, indexes, queues, rules and schedules.

The CDK constructs (``infra/``) and the local runtime both build from :func:`catalog`, so the
stack that ``cdk deploy`` creates and the one ``nudgeloop local serve`` provisions on moto cannot
drift apart; ``tests/infra/test_parity.py`` proves it against the synthesized template.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nudgeloop.domain import segment, ses_events, webhooks
from nudgeloop.grants import GRANTS
from nudgeloop.layout import (
    ARCHIVE_PREFIX,
    AUDIENCE_EXPORTS_PREFIX,
    AUDIENCE_SCAN_CUTOFF_BYTES,
    AUDIENCE_TABLES_PREFIX,
    CAMPAIGN_PREFIX,
    CAMPAIGN_SUFFIXES,
    EXPORTS_PREFIX,
    IMPORT_PREFIX,
    IMPORT_SUFFIXES,
    PUBLICATIONS_PREFIX,
    QUERY_RESULTS_PREFIX,
    REVIEW_ATTRIBUTES,
    SENT_PREFIX,
    TEMPLATE_PREFIX,
    TEMPLATE_SUFFIXES,
)
from nudgeloop.specs import (
    Catalog,
    ExpirySpec,
    FunctionSpec,
    IndexSpec,
    NotificationSpec,
    QueueSpec,
    Retention,
    RouteSpec,
    RuleSpec,
    StreamSourceSpec,
    TableSpec,
    failures_queue_name,
)

DEFAULT_PREFIX = "nudgeloop"
# The Lambda runtime's Python: the CDK stack deploys it, `make` builds the layer for it and runs
# the suite on it (tests/infra/test_stack.py fails when the interpreter differs).
LAMBDA_PYTHON = "3.13"

# Settings each function receives as environment variables (see nudgeloop.config.Settings).
_DATA = ("customers_table", "events_table", "engine_table")
_SEND = (
    *_DATA,
    "templates_bucket",
    "recs_table",
    "configuration_set",
    "service_configuration_set",
    "sender",
    "public_base_url",
    "signing_secret_name",
    "data_bucket",
    "max_send_rate",
    "frequency_cap",
    "in_doubt_after_s",
)


_AUDIENCES = ("audience_database", "audience_workgroup")  # where audience queries run (docs/audiences.md)

DEFAULT_SEGMENT_SCHEDULE = "cron(0 3 * * ? *)"
# How often due journey waits are swept: a wait ends up to this much after its due time. Each
# sweep is an invocation whether or not anything is due (the stack's only wake-up when idle):
# every 5 minutes is 8,760 a month, every minute 43,800 (docs/costs.md).
DEFAULT_SWEEP_SCHEDULE = "rate(5 minutes)"


def audience_workgroup_configuration(data_bucket: str, kms_key: str | None = None) -> dict[str, Any]:
    """The audience workgroup's configuration, as the stack deploys it (infra: constructs/audiences.py; locally: provision.py);
    with ``kms_key`` (the stack's customer-managed key) Athena encrypts its results with it."""
    encryption = {"EncryptionOption": "SSE_KMS", "KmsKey": kms_key} if kms_key else {"EncryptionOption": "SSE_S3"}
    return {
        "ResultConfiguration": {
            "OutputLocation": f"s3://{data_bucket}/{QUERY_RESULTS_PREFIX}",
            "EncryptionConfiguration": encryption,
        },
        "EnforceWorkGroupConfiguration": True,
        "PublishCloudWatchMetricsEnabled": True,
        "BytesScannedCutoffPerQuery": AUDIENCE_SCAN_CUTOFF_BYTES,
        "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
    }


DEFAULT_RETENTION = Retention()


def catalog(
    prefix: str = DEFAULT_PREFIX,
    segment_schedule: str = DEFAULT_SEGMENT_SCHEDULE,
    sweep_schedule: str = DEFAULT_SWEEP_SCHEDULE,
    retention: Retention = DEFAULT_RETENTION,
) -> Catalog:
    """The stack's resources; ``segment_schedule`` (an EventBridge schedule expression) sets when
    the daily re-segmentation runs, ``sweep_schedule`` how often due journey waits are resumed,
    ``retention`` how long the raw event archive and the sent mails are kept."""
    p = prefix
    tables = (
        TableSpec(
            key="customers",
            name=f"{p}-customers",
            partition_key=("customer_id", "S"),
            # Every change (old and new step) feeds the count of customers per step.
            stream_view="NEW_AND_OLD_IMAGES",
            global_indexes=(
                IndexSpec(
                    name="by_review",
                    partition_key=("review_shard", "S"),
                    sort_key=("review_on", "S"),
                    projection="INCLUDE",
                    include=REVIEW_ATTRIBUTES,
                ),
            ),
        ),
        TableSpec(
            key="events",
            name=f"{p}-events",
            partition_key=("customer_id", "S"),
            sort_key=("event_id", "S"),
            # No secondary index: an index entry would cost a write unit per event. A customer's
            # history and orders are one Query of their partition (docs/decisions.md, record 13).
            stream_view="NEW_IMAGE",
        ),
        TableSpec(
            key="recs",
            name=f"{p}-recs",
            partition_key=("key", "S"),
        ),
        # the audit trail (domain/audit.py), apart from the customer data: by object, by customer
        TableSpec(
            key="audit",
            name=f"{p}-audit",
            partition_key=("object", "S"),
            sort_key=("at", "S"),
            global_indexes=(IndexSpec(name="by_customer", partition_key=("customer_id", "S"), sort_key=("at", "S")),),
            ttl_attribute="expires_at",
        ),
        TableSpec(
            key="engine",
            name=f"{p}-engine",
            partition_key=("pk", "S"),
            sort_key=("sk", "S"),
            global_indexes=(
                IndexSpec(
                    name="by_due",
                    partition_key=("due_shard", "S"),
                    sort_key=("due_at", "S"),
                ),
            ),
            ttl_attribute="expires_at",
        ),
    )
    queues = (
        QueueSpec(key="feedback", name=f"{p}-feedback", dlq_name=f"{p}-feedback-dlq", max_concurrency=5),
        # journeys start here: bounded so that a burst of triggers cannot starve the ingest API
        QueueSpec(key="trigger", name=f"{p}-trigger", dlq_name=f"{p}-trigger-dlq", max_concurrency=5),
        # uploaded templates: the notifications of a batch (a folder pushed at once) are checked
        # together, each affected template once (a queue is worth its idle polling here: without
        # it, each file of a push would check its templates on its own)
        QueueSpec(key="templates", name=f"{p}-templates", dlq_name=f"{p}-templates-dlq", batching_window_s=5),
        # Imports and confirmation requests reach their functions directly (asynchronous
        # invocation): a queue a function consumes is polled all the time, and billed for it,
        # however rarely anything arrives (docs/costs.md).
    )
    bus = f"{p}-bus"
    rules = (
        RuleSpec(
            key="journey_triggers",
            name=f"{p}-journey-triggers",
            bus=bus,
            pattern={
                "source": ["nudgeloop.segment", "nudgeloop.behaviour", "nudgeloop.audiences"],
                "detail-type": ["SegmentMigrated", "DateReached", "BehaviourObserved", "ScheduleReached", "AudienceEntered"],
            },
            queue_key="trigger",
        ),
        RuleSpec(
            key="consent_confirmations",
            name=f"{p}-consent-confirmations",
            bus=bus,
            pattern={"source": ["nudgeloop.consent"], "detail-type": ["ConsentConfirmationRequested"]},
            function_key="send_confirmation",
        ),
        RuleSpec(
            key="outbound_webhooks",
            name=f"{p}-outbound-webhooks",
            bus=bus,
            pattern={"source": [webhooks.BUS_SOURCE], "detail-type": [webhooks.BUS_DETAIL_TYPE]},
            function_key="webhook_deliver",
        ),
        RuleSpec(
            key="ses_events",
            name=f"{p}-ses-events",
            bus="default",
            pattern={
                "source": ["aws.ses"],
                "detail-type": list(ses_events.DETAIL_TYPES),
                # marketing and service mail: bounces and complaints of both feed the suppression list
                "detail": {"mail": {"tags": {"ses:configuration-set": [f"{p}-mail", f"{p}-service"]}}},
            },
            queue_key="feedback",
        ),
    )
    common = ("log_level", "service", "prefix")
    functions = (
        FunctionSpec(
            key="ingest_api",
            name=f"{p}-ingest-api",
            code_dir="ingest",
            handler="api.handler",
            description="HTTP API: validates and stores events once; customer reads; unsubscribe",
            env=common
            + _DATA
            + (
                "recs_table",
                "audit_table",
                "signing_secret_name",
                "webhook_secret_name",
                "max_future_skew_s",
                "reputation_min_sends",
                "campaigns_bucket",
                "data_bucket",  # links to archived sent mails and audience exports; audience query results
                *_AUDIENCES,
                "audience_export_function",
                "broadcast_function",  # POST /v1/broadcasts
                "erasure_function",  # DELETE /v1/customers/{id}
                "audience_export_days",  # an export's record is kept as long as its file
            ),
        ),
        FunctionSpec(
            key="erasure",
            name=f"{p}-erasure",
            code_dir="ingest",
            handler="erasure.handler",
            description="Erasure of a person (GDPR Art. 17): stops their journeys, deletes them from tables and S3",
            timeout_s=900,
            memory_mb=512,
            env=(*common, *_DATA, "recs_table", "audit_table", "data_bucket", "campaigns_bucket", "state_machine_arn"),
            async_retries=2,  # then the invocation waits in the failures queue; the erasure reports failed
        ),
        FunctionSpec(
            key="ingest_import",
            name=f"{p}-ingest-import",
            code_dir="ingest",
            handler="bulk.handler",
            description="Bulk import: streams CSV/JSON-lines files from S3 through the event path, writes a report",
            timeout_s=900,
            memory_mb=512,
            env=common + _DATA + ("data_bucket", "max_future_skew_s"),
            async_retries=2,
        ),
        FunctionSpec(
            key="ingest_archive",
            name=f"{p}-ingest-archive",
            code_dir="ingest",
            handler="archive.handler",
            description="Archives every stored event to S3 as JSON lines, partitioned by date (Athena)",
            timeout_s=120,
            env=(*common, "data_bucket"),
        ),
        FunctionSpec(
            key="ingest_process",
            name=f"{p}-ingest-process",
            code_dir="ingest",
            handler="process.handler",
            description="Applies stored events (events table stream) to customers and their steps",
            timeout_s=120,
            env=common + _DATA + ("bus_name", "staircase", "campaigns_bucket"),
        ),
        FunctionSpec(
            key="ingest_feedback",
            name=f"{p}-ingest-feedback",
            code_dir="ingest",
            handler="feedback.handler",
            description="Stores SES delivery, open, click, bounce and complaint events; pauses marketing on bad reputation",
            queue_key="feedback",
            env=common + _DATA + ("configuration_set", "reputation_min_sends", "audit_table"),
        ),
        FunctionSpec(
            key="segment_counts",
            name=f"{p}-segment-counts",
            code_dir="segment",
            handler="counts.handler",
            description="Counts customers per step and the day's flows from the customers table's stream",
            timeout_s=60,
            memory_mb=256,
            env=(*common, "engine_table"),
        ),
        FunctionSpec(
            key="segment_daily",
            name=f"{p}-segment-daily",
            code_dir="segment",
            handler="handler.handler",
            description="Re-segments the customers whose step is due to change",
            timeout_s=900,
            memory_mb=1024,
            schedule=segment_schedule,
            env=common + _DATA + ("bus_name", "staircase", "campaigns_bucket", "rescan_segments"),
        ),
        FunctionSpec(
            key="analytics",
            name=f"{p}-analytics",
            code_dir="insights",
            handler="analytics.handler",
            description="Attributes yesterday's orders to campaigns, compares holdout groups, exports the figures",
            timeout_s=900,
            memory_mb=1024,
            schedule="cron(45 4 * * ? *)",
            env=(*common, *_DATA, "data_bucket", "campaigns_bucket", "attribution_days"),
        ),
        FunctionSpec(
            key="recommend",
            name=f"{p}-recommend",
            code_dir="insights",
            handler="recommend.handler",
            description="Aggregates co-purchases, catalogue relations and curated lists for sending",
            timeout_s=900,
            memory_mb=1024,
            schedule="cron(30 3 * * ? *)",
            env=(*common, "events_table", "recs_table", "campaigns_bucket"),
        ),
        FunctionSpec(
            key="clv",
            name=f"{p}-clv",
            code_dir="insights",
            handler="clv.handler",
            description="Fits BG/NBD and Gamma-Gamma on the order log; stores CLV per customer",
            timeout_s=900,
            memory_mb=2048,
            schedule="cron(0 4 ? * SUN *)",
            env=(*common, "events_table", "recs_table"),
            layers=("common", "science"),
        ),
        FunctionSpec(
            key="trigger_start",
            name=f"{p}-trigger-start",
            code_dir="trigger",
            handler="handler.handler",
            description="Matches bus events to campaigns and starts journeys idempotently",
            queue_key="trigger",
            env=common + _DATA + ("campaigns_bucket", "state_machine_arn"),
        ),
        FunctionSpec(
            key="journey_plan",
            name=f"{p}-journey-plan",
            code_dir="trigger",
            handler="journey.plan_handler",
            description="Journey interpreter: decides a journey's next action",
            env=common + _DATA + ("campaigns_bucket", "send_window", "attribution_days", "recs_table"),
        ),
        FunctionSpec(
            key="journey_park",
            name=f"{p}-journey-park",
            code_dir="trigger",
            handler="journey.park_handler",
            description="Parks a journey's task token until its wait is over",
            env=common + _DATA,
        ),
        FunctionSpec(
            key="journey_wake",
            name=f"{p}-journey-wake",
            code_dir="trigger",
            handler="journey.wake_handler",
            description="Resumes journeys whose waits are due (SendTaskSuccess)",
            timeout_s=300,
            schedule=sweep_schedule,
            env=common + _DATA,
            # one sweep at a time; a sweep that failed is replaced by the next one
            reserved_concurrency=1,
            async_retries=0,
            async_max_age_s=120,
        ),
        FunctionSpec(
            key="send_confirmation",
            name=f"{p}-send-confirmation",
            code_dir="send",
            handler="confirm.handler",
            description="Double opt-in: sends the confirmation mail for a pending sign-up, once",
            async_retries=2,
            env=(*common, *_SEND),
        ),
        FunctionSpec(
            key="webhook_deliver",
            name=f"{p}-webhook-deliver",
            code_dir="send",
            handler="webhooks.handler",
            description="Outbound webhooks: POSTs events to the shop's endpoints, signed; retries on the sweep",
            timeout_s=120,
            schedule=sweep_schedule,
            async_retries=2,
            env=(*common, "engine_table", "signing_secret_name", "webhooks"),
        ),
        FunctionSpec(
            key="audience_snapshot",
            name=f"{p}-audience-snapshot",
            code_dir="segment",
            handler="audiences.snapshot_handler",
            description="The audience tables: exports DynamoDB's state, has Athena derive them into Parquet (daily)",
            timeout_s=900,
            memory_mb=256,
            # a run takes minutes (the exports) and continues on the next sweep; idle, one read
            schedule=sweep_schedule,
            env=(
                *common,
                "engine_table",
                "customers_table",
                "recs_table",
                "data_bucket",
                *_AUDIENCES,
                "audience_snapshot_at",
                "campaigns_bucket",  # the saved audiences, whose publications each run starts
                "audience_export_function",
                "audience_export_days",
            ),
            reserved_concurrency=1,  # one run at a time
            async_retries=0,  # the next sweep goes on where a failed one stopped
            async_max_age_s=300,
        ),
        FunctionSpec(
            key="audience_export",
            name=f"{p}-audience-export",
            code_dir="segment",
            handler="audiences.export_handler",
            description="Audience exports: waits for Athena's query, writes the CSV or JSON-lines file to S3",
            timeout_s=900,
            memory_mb=256,
            # the bus: publications announced, audiences entered; the recs table: memberships
            env=(*common, "engine_table", "data_bucket", *_AUDIENCES, "bus_name", "recs_table", "audience_export_days"),
            async_retries=2,  # then the invocation is kept in the failures queue; the export reports failed
        ),
        FunctionSpec(
            key="broadcast",
            name=f"{p}-broadcast",
            code_dir="send",
            handler="broadcasts.handler",
            description="Broadcasts: selects an audience's members (Athena), writes their batches, releases them at the SES rate",
            timeout_s=900,
            memory_mb=256,
            schedule=sweep_schedule,  # scheduled broadcasts, batches to release; idle, one Query
            env=(*common, *_SEND, *_AUDIENCES, "campaigns_bucket", "broadcast_send_function"),
            reserved_concurrency=1,  # one selection and release at a time
            async_retries=2,
        ),
        FunctionSpec(
            key="broadcast_send",
            name=f"{p}-broadcast-send",
            code_dir="send",
            handler="broadcasts.batch_handler",
            description="Broadcasts: one batch of members, each mail at most once (the journeys' send path)",
            timeout_s=900,
            env=(*common, *_SEND, "send_window"),
            reserved_concurrency=2,  # the SES rate bounds the throughput; the sweep paces the batches
            async_retries=2,
            async_max_age_s=6 * 3600,
        ),
        FunctionSpec(
            key="templates_check",
            name=f"{p}-templates-check",
            code_dir="send",
            handler="templates.handler",
            description="Checks templates uploaded to S3 against every name a send provides; records their status",
            timeout_s=60,
            queue_key="templates",
            env=(*common, "engine_table", "templates_bucket", "campaigns_bucket", "audit_table"),
        ),
        FunctionSpec(
            key="send",
            name=f"{p}-send",
            code_dir="send",
            handler="handler.handler",
            description="Renders a template and sends it with SES exactly once",
            env=(*common, *_SEND),
            # bounded, so that a newsletter burst cannot take the concurrency the ingest API needs;
            # Step Functions retries a throttled Send with backoff and jitter
            reserved_concurrency=10,
        ),
    )
    granted = tuple(replace(f, grants=GRANTS[f.key]) for f in functions)
    consumers = {f.queue_key: f for f in granted if f.queue_key}
    timed = tuple(replace(q, visibility_timeout_s=6 * consumers[q.key].timeout_s + q.batching_window_s) for q in queues)
    ingest, read, ingest_or_read = ("ingest",), ("read",), ("ingest", "read")  # admin keys call every route
    routes = (
        RouteSpec("POST", "/v1/events", scopes=ingest),
        RouteSpec("GET", "/v1/customers/{customer_id}", scopes=read),
        RouteSpec("PUT", "/v1/customers/{customer_id}", scopes=ingest),
        RouteSpec("GET", "/v1/customers/{customer_id}/events", scopes=read),
        RouteSpec("GET", "/v1/customers/{customer_id}/export"),  # everything about one person: admin keys only
        RouteSpec("DELETE", "/v1/customers/{customer_id}"),  # erasure (services/erasure): admin keys only
        RouteSpec("GET", "/v1/erasures/{erasure_id}"),
        RouteSpec("GET", "/v1/campaigns/{campaign_id}/mails", scopes=read),
        RouteSpec("PUT", "/v1/audiences/{audience_id}"),
        RouteSpec("GET", "/v1/audiences", scopes=read),
        RouteSpec("GET", "/v1/audiences/{audience_id}", scopes=read),
        RouteSpec("GET", "/v1/audiences/{audience_id}/members", scopes=read),
        RouteSpec("POST", "/v1/audiences/{audience_id}/exports"),
        RouteSpec("GET", "/v1/audiences/{audience_id}/exports", scopes=read),
        RouteSpec("GET", "/v1/audiences/{audience_id}/exports/{export_id}", scopes=read),
        RouteSpec("POST", "/v1/broadcasts"),
        RouteSpec("GET", "/v1/broadcasts/{broadcast_id}", scopes=read),
        RouteSpec("GET", "/v1/vouchers/{code}", scopes=ingest_or_read),
        RouteSpec("POST", "/v1/vouchers/{code}/redeem", scopes=ingest),
        RouteSpec("POST", "/v1/voucher-pools/{pool}/codes"),
        RouteSpec("GET", "/v1/voucher-pools/{pool}", scopes=read),
        RouteSpec("GET", "/v1/analytics/campaigns", scopes=read),
        RouteSpec("GET", "/v1/analytics/campaigns/{campaign_id}", scopes=read),
        RouteSpec("GET", "/v1/analytics/staircase", scopes=read),
        RouteSpec("GET", "/v1/analytics/deliverability", scopes=read),
        RouteSpec("POST", "/v1/keys"),
        RouteSpec("GET", "/v1/keys"),
        RouteSpec("DELETE", "/v1/keys/{key_id}"),
        RouteSpec("GET", "/v1/audit"),
        # Shopify signs its webhooks (HMAC-SHA256 of the body); no API key on that route
        RouteSpec("POST", "/v1/webhooks/shopify", api_key_required=False, rate_limit=50, burst_limit=100),
        # Segment's and RudderStack's clients send their write key in HTTP Basic, never x-api-key:
        # the function verifies it as an ingest key (services/tracking)
        RouteSpec("POST", "/segment/v1/batch", api_key_required=False, rate_limit=100, burst_limit=200, scopes=ingest),
        *(
            RouteSpec("POST", f"/segment/v1/{kind}", api_key_required=False, rate_limit=50, burst_limit=100, scopes=ingest)
            for kind in segment.TYPES
        ),
        RouteSpec("GET", "/v1/openapi.json", api_key_required=False, rate_limit=5, burst_limit=10),
        RouteSpec("GET", "/v1/unsubscribe", api_key_required=False, rate_limit=20, burst_limit=40),
        RouteSpec("POST", "/v1/unsubscribe", api_key_required=False, rate_limit=50, burst_limit=100),
        RouteSpec("GET", "/v1/consent/confirm", api_key_required=False, rate_limit=20, burst_limit=40),
    )
    failures = failures_queue_name(p)  # the streams' on-failure destination, shared (specs.py)
    streams = (
        # about 70 events/s per batch in AWS (docs/benchmarks.md): four batches per shard at once,
        # each customer's events still in order (applying them is order-independent anyway)
        StreamSourceSpec(table_key="events", function_key="ingest_process", dlq_name=failures, parallelization_factor=4),
        StreamSourceSpec(
            table_key="customers",
            function_key="segment_counts",
            dlq_name=failures,
            # counts may lag two minutes; in exchange a busy minute's moves cost one write
            batch_size=1000,
            max_batching_window_s=120,
            event_names=("INSERT", "MODIFY", "REMOVE"),
            bisect_on_error=False,
        ),
        StreamSourceSpec(
            table_key="events",
            function_key="ingest_archive",
            dlq_name=failures,
            batch_size=1000,
            max_batching_window_s=60,
        ),
    )
    return Catalog(
        prefix=p,
        streams=streams,
        tables=tables,
        queues=timed,
        rules=rules,
        functions=granted,
        routes=routes,
        bus_name=bus,
        state_machine_name=f"{p}-journey",
        configuration_set=f"{p}-mail",
        service_configuration_set=f"{p}-service",
        signing_secret_name=f"{p}/signing-key",
        # an SSM SecureString parameter the operator creates (standard parameters cost nothing; a
        # Secrets Manager secret costs $0.40 a month, docs/costs.md): CloudFormation cannot create one
        webhook_secret_name=f"/{p}/shopify-webhook-secret",
        bucket_stems={"templates": f"{p}-templates", "campaigns": f"{p}-campaigns", "data": f"{p}-data"},
        notifications=(
            NotificationSpec(bucket_key="data", prefix=IMPORT_PREFIX, suffixes=IMPORT_SUFFIXES, function_key="ingest_import"),
            NotificationSpec(bucket_key="templates", prefix=TEMPLATE_PREFIX, suffixes=TEMPLATE_SUFFIXES, queue_key="templates"),
            # a campaign's new version may start on another trigger: its templates are checked again
            NotificationSpec(bucket_key="campaigns", prefix=CAMPAIGN_PREFIX, suffixes=CAMPAIGN_SUFFIXES, queue_key="templates"),
        ),
        # a snapshot is replaced daily (the current one is at most a day old), a result read within minutes
        expirations=(
            ExpirySpec("data", EXPORTS_PREFIX, 3),
            ExpirySpec("data", AUDIENCE_EXPORTS_PREFIX, retention.audience_export_days),
            ExpirySpec("data", PUBLICATIONS_PREFIX, retention.publication_days),
            ExpirySpec("data", AUDIENCE_TABLES_PREFIX, 7),
            ExpirySpec("data", QUERY_RESULTS_PREFIX, 2),
            *((ExpirySpec("data", ARCHIVE_PREFIX, retention.raw_archive_days),) if retention.raw_archive_days else ()),
            *((ExpirySpec("data", SENT_PREFIX, retention.sent_mail_days),) if retention.sent_mail_days else ()),
        ),
        audience_database=p.replace("-", "_") + "_audiences",  # Glue: lower case, digits and _
        audience_workgroup=f"{p}-audiences",
    )
