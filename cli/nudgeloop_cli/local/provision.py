"""Provision moto with exactly the resources the CDK stack declares (from the same catalog)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from nudgeloop.adapters import aws
from nudgeloop.domain import access
from nudgeloop.journey_definition import PLACEHOLDERS, render
from nudgeloop.resources import LAMBDA_PYTHON, audience_workgroup_configuration
from nudgeloop.specs import Catalog, usage_plan_name

from .base import LocalError

ACCOUNT = "123456789012"  # moto's default (fake) account
LOCAL_WEBHOOK_SECRET = "local-shopify-webhook-secret"  # noqa: S105 - a local stand-in, never a real secret


@dataclass
class Provisioned:
    region: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    stream_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    secret_arns: dict[str, str] = field(default_factory=dict)  # name -> ARN


def _table_args(spec: Any) -> dict[str, Any]:
    attrs: dict[str, str] = {}

    def key_schema(pk: tuple[str, str], sk: tuple[str, str] | None) -> list[dict[str, str]]:
        attrs[pk[0]] = pk[1]
        schema = [{"AttributeName": pk[0], "KeyType": "HASH"}]
        if sk:
            attrs[sk[0]] = sk[1]
            schema.append({"AttributeName": sk[0], "KeyType": "RANGE"})
        return schema

    args: dict[str, Any] = {
        "TableName": spec.name,
        "KeySchema": key_schema(spec.partition_key, spec.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
    }
    for arg, indexes in (("GlobalSecondaryIndexes", spec.global_indexes), ("LocalSecondaryIndexes", spec.local_indexes)):
        if indexes:
            args[arg] = [
                {
                    "IndexName": ix.name,
                    "KeySchema": key_schema(ix.partition_key, ix.sort_key),
                    "Projection": {
                        "ProjectionType": ix.projection,
                        **({"NonKeyAttributes": list(ix.include)} if ix.include else {}),
                    },
                }
                for ix in indexes
            ]
    if spec.stream_view:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view}
    args["AttributeDefinitions"] = [{"AttributeName": k, "AttributeType": v} for k, v in attrs.items()]
    return args


def provision_keys(cat: Catalog, keys: dict[str, str]) -> str:
    """The usage plan API Gateway accepts keys of, and the shipped keys (scope -> value), tagged
    as the stack tags its default key (constructs/ingest_api.py); returns the plan's id."""
    gateway = aws.client("apigateway")
    plan = str(gateway.create_usage_plan(name=usage_plan_name(cat.prefix))["id"])
    for scope, value in keys.items():
        if len(value) < 20:
            raise LocalError(f"the {scope} API key must have at least 20 characters, as API Gateway requires")
        key = gateway.create_api_key(
            name=access.key_name(cat.prefix, f"local-{scope}"),
            enabled=True,
            value=value,
            tags={access.SCOPE_TAG: scope, access.STACK_TAG: cat.prefix},
        )
        gateway.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    return plan


def provision(cat: Catalog, region: str, sender_domain: str) -> Provisioned:
    out = Provisioned(region=region)
    ddb = aws.client("dynamodb")
    for table in cat.tables:
        created = ddb.create_table(**_table_args(table))["TableDescription"]
        if table.stream_view:
            out.stream_arns[table.key] = created["LatestStreamArn"]
        # as the stack deploys every table: point-in-time recovery on (DynamoDB's exports need it)
        ddb.update_continuous_backups(TableName=table.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
    s3 = aws.client("s3")
    for key in cat.bucket_stems:
        name = cat.bucket_name(key, ACCOUNT, region)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        out.buckets[key] = name
    sqs = aws.client("sqs")
    for stream in cat.streams:  # the event source mapping's on-failure destination
        out.dlq_urls[stream.dlq_name] = sqs.create_queue(
            QueueName=stream.dlq_name, Attributes={"MessageRetentionPeriod": "1209600"}
        )["QueueUrl"]
    for fn in cat.functions:  # on-failure destinations of asynchronous invocations
        failures = cat.failure_queue(fn)
        if failures:
            out.dlq_urls[failures] = sqs.create_queue(QueueName=failures, Attributes={"MessageRetentionPeriod": "1209600"})[
                "QueueUrl"
            ]
    for q in cat.queues:
        dlq_url = sqs.create_queue(QueueName=q.dlq_name, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=q.name,
            Attributes={
                "VisibilityTimeout": str(q.visibility_timeout_s),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}),
            },
        )["QueueUrl"]
        out.queue_urls[q.key] = url
        out.dlq_urls[q.dlq_name] = dlq_url
        out.queue_arns[q.key] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    iam = aws.client("iam")
    role = iam.create_role(RoleName=f"{cat.prefix}-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws.client("lambda")
    for fn in cat.functions:
        out.function_arns[fn.key] = lam.create_function(
            FunctionName=fn.name,
            Runtime=f"python{LAMBDA_PYTHON}",
            Role=role,
            Handler=fn.handler,
            Code={"ZipFile": b"local"},
            Architectures=["arm64"],
        )["FunctionArn"]
    events = aws.client("events")
    events.create_event_bus(Name=cat.bus_name)
    for rule in cat.rules:
        events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern), State="ENABLED")
        dlq_name = cat.failures_queue  # what EventBridge could not deliver
        dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        out.dlq_urls[dlq_name] = dlq_url
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        target = out.queue_arns[rule.queue_key] if rule.queue_key else out.function_arns[str(rule.function_key)]
        events.put_targets(
            Rule=rule.name,
            EventBusName=rule.bus,
            Targets=[{"Id": rule.key, "Arn": target, "DeadLetterConfig": {"Arn": dlq_arn}}],
        )
    ses = aws.client("sesv2")
    ses.create_email_identity(EmailIdentity=sender_domain)
    for configuration_set in (cat.configuration_set, cat.service_configuration_set):
        ses.create_configuration_set(ConfigurationSetName=configuration_set)
        ses.put_configuration_set_sending_options(ConfigurationSetName=configuration_set, SendingEnabled=True)
    aws.client("ses").verify_domain_identity(Domain=sender_domain)
    configurations: dict[str, dict[str, list[dict[str, Any]]]] = {}  # a bucket's configuration is set whole
    for notification in cat.notifications:  # S3 ObjectCreated -> queue or function, one configuration per suffix
        if notification.function_key is not None:
            kind, target = ("LambdaFunctionConfigurations", "LambdaFunctionArn"), out.function_arns[notification.function_key]
        else:
            kind, target = ("QueueConfigurations", "QueueArn"), out.queue_arns[str(notification.queue_key)]
        configurations.setdefault(notification.bucket_key, {}).setdefault(kind[0], []).extend(
            {
                kind[1]: target,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": notification.prefix},
                            {"Name": "suffix", "Value": suffix},
                        ]
                    }
                },
            }
            for suffix in notification.suffixes
        )
    for bucket_key, found in configurations.items():
        s3.put_bucket_notification_configuration(Bucket=out.buckets[bucket_key], NotificationConfiguration=found)
    manager = aws.client("secretsmanager")
    out.secret_arns[cat.signing_secret_name] = manager.create_secret(
        Name=cat.signing_secret_name, SecretString=secrets.token_urlsafe(48)
    )["ARN"]
    # the operator's step after deploying (docs/operations.md, "Shopify"), done for the local stack
    aws.client("ssm").put_parameter(Name=cat.webhook_secret_name, Value=LOCAL_WEBHOOK_SECRET, Type="SecureString")
    # the audience tables' catalog and the workgroup their queries run in (constructs/audiences.py)
    aws.client("glue").create_database(DatabaseInput={"Name": cat.audience_database})
    aws.client("athena").create_work_group(
        Name=cat.audience_workgroup, Configuration=audience_workgroup_configuration(out.buckets["data"])
    )
    sfn = aws.client("stepfunctions")
    definition = render({ph: out.function_arns[key] for ph, key in PLACEHOLDERS.items()})
    out.state_machine_arn = sfn.create_state_machine(
        name=cat.state_machine_name, definition=definition, roleArn=role, type="STANDARD"
    )["stateMachineArn"]
    return out
