"""Lambda functions and SQS queues built from the catalog, each function with its own role."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from nudgeloop.config import declared_defaults, env_name
from nudgeloop.layout import AUDIENCE_EXPORTS_PREFIX
from nudgeloop.observability import MONITORING_ENV
from nudgeloop.permissions import Arns, statements
from nudgeloop.resources import LAMBDA_PYTHON
from nudgeloop.specs import Catalog
from nudgeloop_infra.nag import acknowledge, untraced

from .data import Data
from .encryption import USE as KEY_USE

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = lambda_.Runtime(f"python{LAMBDA_PYTHON}", lambda_.RuntimeFamily.PYTHON)
ARCH = lambda_.Architecture.ARM_64


class FunctionFactory(Construct):
    """Builds the catalog's functions and queues; keeps a registry for the other constructs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        layer_dirs: dict[str, str],
        data: Data,
        settings: dict[str, str] | None = None,
        tracing: bool = False,
        monitoring: str = "minimal",
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings or {}
        self.tracing = tracing  # X-Ray for every function, and for the API and journeys built with them
        self.monitoring = monitoring  # what the functions publish and the alarms watch (Observability)
        self.catalog = catalog
        self.data = data
        self.layer_dirs = layer_dirs
        self.layers: dict[str, lambda_.LayerVersion] = {}
        self.functions: dict[str, lambda_.Function] = {}
        self.queues: dict[str, sqs.Queue] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self._by_name: dict[str, sqs.Queue] = {}  # the dead-letter queues by name

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        c, d = self.catalog, self.data
        known = {
            **declared_defaults(),
            "prefix": c.prefix,
            "customers_table": d.tables["customers"].table_name,
            "events_table": d.tables["events"].table_name,
            "engine_table": d.tables["engine"].table_name,
            "recs_table": d.tables["recs"].table_name,
            "audit_table": d.tables["audit"].table_name,
            "campaigns_bucket": d.buckets["campaigns"].bucket_name,
            "templates_bucket": d.buckets["templates"].bucket_name,
            "signing_secret_name": c.signing_secret_name,
            "webhook_secret_name": c.webhook_secret_name,
            "data_bucket": d.buckets["data"].bucket_name,
            "audience_database": c.audience_database,
            "audience_workgroup": c.audience_workgroup,
            "audience_export_function": c.function("audience_export").name,
            "broadcast_function": c.function("broadcast").name,
            "broadcast_send_function": c.function("broadcast_send").name,
            "erasure_function": c.function("erasure").name,
            "audience_export_days": str(c.expiry_days(AUDIENCE_EXPORTS_PREFIX)),
            "bus_name": c.bus_name,
            "configuration_set": c.configuration_set,
            "service_configuration_set": c.service_configuration_set,
            **self.settings,
            **extra,
        }
        return known

    LAYER_DESCRIPTIONS = {
        "common": "nudgeloop package and its pinned dependencies",
        "science": "numpy and scipy, for the CLV fit only",
    }

    def layer(self, key: str) -> lambda_.LayerVersion:
        if key not in self.layers:
            self.layers[key] = lambda_.LayerVersion(
                self,
                f"{key.capitalize()}Layer",
                code=lambda_.Code.from_asset(self.layer_dirs[key]),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCH],
                description=self.LAYER_DESCRIPTIONS[key],
            )
        return self.layers[key]

    def dead_letter_queue(self, key: str, name: str) -> sqs.Queue:
        """The dead-letter queue ``name`` (created once: the failures queue is shared), alarmed."""
        if name == self.catalog.failures_queue:
            key = "failures"
        if name in self._by_name:
            return self._by_name[name]
        dlq = sqs.Queue(
            self,
            f"{key.capitalize()}Dlq",
            queue_name=name,
            retention_period=cdk.Duration.days(14),
            encryption=sqs.QueueEncryption.KMS if self.data.key else sqs.QueueEncryption.SQS_MANAGED,
            encryption_master_key=self.data.key,
            enforce_ssl=True,
        )
        acknowledge(dlq, {"AwsSolutions-SQS3": "This queue is itself a dead-letter queue."})
        # cfn-lint-serverless: the end of the line needs no redrive policy of its own
        cfn = dlq.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        cfn.add_metadata("cfn-lint", {"config": {"ignore_checks": ["ES6000"]}})
        self.dlqs[key] = dlq
        self._by_name[name] = dlq
        return dlq

    def stream_source(self, function_key: str) -> None:
        """Feed a function from a table stream, as the catalog's StreamSourceSpec says."""
        spec = next(s for s in self.catalog.streams if s.function_key == function_key)
        # The first consumer keeps the construct id it was deployed with (a new id would replace
        # the queue and drop what it holds); later consumers are named after their function.
        first = spec == next(s for s in self.catalog.streams if s.table_key == spec.table_key)
        dlq = self.dead_letter_queue(spec.table_key + "stream" if first else function_key, spec.dlq_name)
        self.functions[function_key].add_event_source(
            sources.DynamoEventSource(
                self.data.tables[spec.table_key],
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=spec.batch_size,
                max_batching_window=cdk.Duration.seconds(spec.max_batching_window_s),
                bisect_batch_on_error=spec.bisect_on_error,
                parallelization_factor=spec.parallelization_factor,
                retry_attempts=spec.retry_attempts,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(dlq),
                filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.or_(*spec.event_names)})],
            )
        )

    def queue(self, key: str) -> sqs.Queue:
        if key in self.queues:
            return self.queues[key]
        spec = self.catalog.queue(key)
        dlq = self.dead_letter_queue(key, spec.dlq_name)
        # a queue only S3 notifications feed holds object keys of templates and campaigns, no one's
        # data: SQS-managed encryption (the key's policy naming the bucket would make a cycle with
        # the bucket the key encrypts)
        notified = key in {n.queue_key for n in self.catalog.notifications}
        own_key = self.data.key if not notified else None
        queue = sqs.Queue(
            self,
            f"{key.capitalize()}Queue",
            queue_name=spec.name,
            visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_s),  # 6 x the consumer's timeout + window
            encryption=sqs.QueueEncryption.KMS if own_key else sqs.QueueEncryption.SQS_MANAGED,
            encryption_master_key=own_key,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
        )
        self.queues[key] = queue
        return queue

    def function(self, key: str, extra_env: dict[str, str] | None = None) -> lambda_.Function:
        spec = self.catalog.function(key)
        values = self.env(extra_env or {})
        missing = [name for name in spec.env if name not in values]
        if missing:
            raise ValueError(f"{key}: no value for settings {missing}")
        log_group = logs.LogGroup(
            self,
            f"{spec.key}Logs",
            log_group_name=f"/aws/lambda/{spec.name}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{spec.key}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Least-privilege role of {spec.name}",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
        )
        # What the handler may call, from the catalog's one declaration (nudgeloop.grants.GRANTS).
        arns = Arns(self.catalog, cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION, cdk.Aws.PARTITION, sender=values.get("sender", ""))
        for statement in statements(spec, arns):
            role.add_to_policy(iam.PolicyStatement(actions=list(statement.actions), resources=list(statement.resources)))
        if self.data.key is not None:  # every function reads or writes a table, an object or a message
            role.add_to_policy(iam.PolicyStatement(actions=list(KEY_USE), resources=[self.data.key.key_arn]))
        fn = lambda_.Function(
            self,
            spec.key,
            function_name=spec.name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCH,
            code=lambda_.Code.from_asset(str(ROOT / "functions" / spec.code_dir)),
            handler=spec.handler,
            layers=[self.layer(name) for name in spec.layers],
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(spec.timeout_s),
            reserved_concurrent_executions=spec.reserved_concurrency,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE if self.tracing else lambda_.Tracing.DISABLED,
            environment={
                **{env_name(name): values[name] for name in spec.env},
                "POWERTOOLS_SERVICE_NAME": "nudgeloop",
                "POWERTOOLS_METRICS_NAMESPACE": "Nudgeloop",
                MONITORING_ENV: self.monitoring,
                # without tracing, Powertools' tracer records nothing (and warns of no segment)
                **({} if self.tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}),
            },
        )
        if not self.tracing:
            untraced(fn)
        if spec.queue_key:
            queue = self.queue(spec.queue_key)
            queue_spec = self.catalog.queue(spec.queue_key)
            fn.add_event_source(
                sources.SqsEventSource(
                    queue,
                    batch_size=queue_spec.batch_size,
                    max_batching_window=cdk.Duration.seconds(queue_spec.batching_window_s),
                    max_concurrency=queue_spec.max_concurrency,
                    report_batch_item_failures=True,
                )
            )
        failure_queue = self.catalog.failure_queue(spec)
        if failure_queue:  # asynchronous invocations that still fail after their retries are kept
            fn.configure_async_invoke(
                on_failure=destinations.SqsDestination(self.dead_letter_queue("failures", failure_queue)),
                retry_attempts=spec.async_retries,
                max_event_age=cdk.Duration.seconds(spec.async_max_age_s),
            )
        for notification in self.catalog.notifications:  # to its queue, or invoking it asynchronously
            if notification.function_key == key:
                destination: s3.IBucketNotificationDestination = s3n.LambdaDestination(fn)
            elif spec.queue_key is not None and notification.queue_key == spec.queue_key:
                destination = s3n.SqsDestination(self.queue(spec.queue_key))
            else:
                continue
            for suffix in notification.suffixes:
                self.data.buckets[notification.bucket_key].add_event_notification(
                    s3.EventType.OBJECT_CREATED, destination, s3.NotificationKeyFilter(prefix=notification.prefix, suffix=suffix)
                )
        if spec.schedule:
            events.Rule(
                self,
                f"{spec.key}Schedule",
                rule_name=spec.name,
                schedule=events.Schedule.expression(spec.schedule),
                targets=[
                    targets.LambdaFunction(
                        fn,
                        dead_letter_queue=self.dead_letter_queue("failures", self.catalog.failures_queue),
                        retry_attempts=4,
                    )
                ],
            )
        self.functions[key] = fn
        self.log_groups[key] = log_group
        return fn

    def rule(self, scope: Construct, construct_id: str, rule_key: str, bus: events.IEventBus) -> events.Rule:
        """The catalog's EventBridge rule ``rule_key`` on ``bus``, delivering to its SQS queue or
        invoking its function asynchronously (the function must be built already)."""
        spec = next(r for r in self.catalog.rules if r.key == rule_key)
        # what EventBridge could not deliver (after its own retries) is kept too
        dlq = self.dead_letter_queue("failures", self.catalog.failures_queue)
        if spec.function_key is not None:
            target: events.IRuleTarget = targets.LambdaFunction(self.functions[spec.function_key], dead_letter_queue=dlq)
        else:
            assert spec.queue_key is not None
            target = targets.SqsQueue(self.queue(spec.queue_key), dead_letter_queue=dlq)
        return events.Rule(
            scope,
            construct_id,
            rule_name=spec.name,
            event_bus=bus,
            event_pattern=event_pattern(spec.pattern),
            targets=[target],
        )


def event_pattern(pattern: dict[str, object]) -> events.EventPattern:
    return events.EventPattern(
        source=pattern.get("source"),  # type: ignore[arg-type]
        detail_type=pattern.get("detail-type"),  # type: ignore[arg-type]
        detail=pattern.get("detail"),  # type: ignore[arg-type]
    )
