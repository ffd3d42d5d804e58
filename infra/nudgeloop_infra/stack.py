"""The Nudgeloop stack: a thin composition of one construct per concern."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

from nudgeloop.config import TUNABLES, tunable_values
from nudgeloop.observability import MONITORING_LEVELS
from nudgeloop.resources import DEFAULT_SEGMENT_SCHEDULE, DEFAULT_SWEEP_SCHEDULE, LAMBDA_PYTHON, catalog
from nudgeloop.specs import Retention

from .constructs.analytics import Analytics
from .constructs.audiences import Audiences
from .constructs.campaigns import Campaigns
from .constructs.data import Data
from .constructs.encryption import Encryption
from .constructs.functions import FunctionFactory
from .constructs.ingest_api import IngestApi
from .constructs.observability import Observability
from .constructs.protection import Protection
from .constructs.segmentation import Segmentation
from .constructs.sending import Sending
from .nag import acknowledge, acknowledge_grant_wildcards

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackConfig:
    """What the stack is built from: where and how it is deployed (below), and the tunable
    settings of the functions, declared once in ``nudgeloop.config`` (``nudgeloop settings``)."""

    prefix: str = "nudgeloop"
    public_base_url: str = ""  # default: the API's own URL
    layer_dir: str = str(ROOT / "build" / "layer")
    science_layer_dir: str = str(ROOT / "build" / "layer-science")
    alarm_email: str = ""
    segment_schedule: str = DEFAULT_SEGMENT_SCHEDULE
    sweep_schedule: str = DEFAULT_SWEEP_SCHEDULE
    monitoring: str = "minimal"  # minimal | full: which alarms and dashboards ship (docs/costs.md)
    tracing: bool = False  # X-Ray on the API, the functions and the journeys
    waf: bool = False  # an AWS WAF web ACL on the API (constructs/protection.py; docs/costs.md)
    kms: bool = False  # a customer-managed KMS key for tables, buckets and queues (constructs/encryption.py)
    retention: Retention = field(default_factory=Retention)  # of the raw archive and the sent mails (docs/privacy.md)
    settings: dict[str, str] = field(default_factory=lambda: tunable_values({}))  # validated

    def __post_init__(self) -> None:
        if self.monitoring not in MONITORING_LEVELS:
            raise ValueError(f"context monitoring={self.monitoring!r}: one of {', '.join(MONITORING_LEVELS)}")

    @property
    def sender(self) -> str:
        return self.settings["sender"]

    @classmethod
    def from_context(cls, scope: Construct) -> StackConfig:
        node = scope.node

        def ctx(name: str, default: str) -> str:
            value = node.try_get_context(name)
            return str(value) if value is not None else default

        base = cls()
        tracing = ctx("tracing", str(base.tracing).lower()).lower()
        if tracing not in ("true", "false"):
            raise ValueError(f"context tracing={tracing!r}: true or false")
        switches = {name: ctx(name, str(getattr(base, name)).lower()).lower() for name in ("waf", "kms")}
        for name, value in switches.items():
            if value not in ("true", "false"):
                raise ValueError(f"context {name}={value!r}: true or false")
        return cls(
            prefix=ctx("prefix", base.prefix),
            public_base_url=ctx("public_base_url", base.public_base_url),
            layer_dir=ctx("layer_dir", base.layer_dir),
            science_layer_dir=ctx("science_layer_dir", base.science_layer_dir),
            alarm_email=ctx("alarm_email", base.alarm_email),
            segment_schedule=ctx("segment_schedule", base.segment_schedule),
            sweep_schedule=ctx("sweep_schedule", base.sweep_schedule),
            monitoring=ctx("monitoring", base.monitoring),  # checked by __post_init__
            tracing=tracing == "true",
            waf=switches["waf"] == "true",
            kms=switches["kms"] == "true",
            retention=Retention(
                raw_archive_days=_days(ctx("raw_archive_days", str(base.retention.raw_archive_days)), "raw_archive_days"),
                sent_mail_days=_days(ctx("sent_mail_days", str(base.retention.sent_mail_days)), "sent_mail_days"),
                audience_export_days=_days(
                    ctx("audience_export_days", str(base.retention.audience_export_days)), "audience_export_days"
                ),
                publication_days=_days(ctx("publication_days", str(base.retention.publication_days)), "publication_days"),
            ),
            # an invalid value fails the synth, never a Lambda
            settings=tunable_values({name: node.try_get_context(name) for name in TUNABLES}),
        )


def _days(value: str, name: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"context {name}={value!r}: a whole number of days (0: kept until deleted)")
    return int(value)


class NudgeloopStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        for layer, marker in ((config.layer_dir, "nudgeloop"), (config.science_layer_dir, "numpy")):
            if not (Path(layer) / "python" / marker).is_dir():
                raise RuntimeError(f"layer not built at {layer}: run `make build` first")
        cat = catalog(config.prefix, config.segment_schedule, config.sweep_schedule, config.retention)
        key = Encryption(self, "Encryption", prefix=config.prefix).key if config.kms else None
        data = Data(self, "Data", catalog=cat, kms_key=key)
        functions = FunctionFactory(
            self,
            "Functions",
            catalog=cat,
            layer_dirs={"common": config.layer_dir, "science": config.science_layer_dir},
            data=data,
            settings=config.settings,
            tracing=config.tracing,
            monitoring=config.monitoring,
        )
        segmentation = Segmentation(self, "Segmentation", catalog=cat, functions=functions, data=data)
        api = IngestApi(self, "IngestApi", catalog=cat, functions=functions, data=data, bus=segmentation.bus)
        if config.waf:
            Protection(self, "Protection", catalog=cat, stage=api.api.deployment_stage)
        sending = Sending(
            self,
            "Sending",
            catalog=cat,
            functions=functions,
            data=data,
            sender=config.sender,
            public_base_url=config.public_base_url or api.api.url,
            bus=segmentation.bus,
        )
        campaigns = Campaigns(
            self,
            "Campaigns",
            catalog=cat,
            functions=functions,
            data=data,
            bus=segmentation.bus,
            send_function=sending.function,
        )
        Analytics(self, "Analytics", functions=functions, data=data)
        Audiences(self, "Audiences", catalog=cat, functions=functions, data=data)
        Observability(
            self,
            "Observability",
            functions=functions,
            alarm_email=config.alarm_email,
            state_machine=campaigns.state_machine,
        )
        acknowledge_grant_wildcards(self, cat, functions.functions.values())
        if key is not None:
            acknowledge(
                self,
                {
                    f"AwsSolutions-IAM5[Action::{action}]": "CDK's grants of an encrypted queue (on-failure "
                    "destinations, dead-letter queues, event sources) name KMS's actions by family; on the stack's "
                    "own key only."
                    for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*")
                },
            )
        acknowledge(
            self,
            {
                "AwsSolutions-L1": f"Functions run Python {LAMBDA_PYTHON}, the version the whole suite runs on "
                "(nudgeloop.resources.LAMBDA_PYTHON, checked by tests/infra/test_stack.py); a newer runtime is "
                "adopted by changing that one setting once the suite runs on it.",
            },
        )
        for child in self.node.children:  # CDK's own singleton that configures S3 notifications
            if child.node.id.startswith("BucketNotificationsHandler"):
                for resource in child.node.find_all():
                    if isinstance(resource, cdk.CfnResource) and resource.cfn_resource_type == "AWS::Lambda::Function":
                        # CDK's own deploy-time helper: runs once per deployment, not our code
                        resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["ES1005", "WS1000", "WS1004"]}})
                acknowledge(
                    child,
                    {
                        "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole]": "CDK's bucket-notification custom resource (runs at deploy "
                        "time only) logs with AWS's basic execution policy.",
                        "AwsSolutions-IAM5": "CDK's bucket-notification custom resource needs "
                        "s3:PutBucketNotification on the buckets it configures.",
                    },
                )
        cdk.CfnOutput(self, "ApiUrl", value=api.api.url)
        cdk.CfnOutput(self, "ApiKeyId", value=api.api_key.key_id)
        cdk.CfnOutput(self, "TemplatesBucket", value=data.buckets["templates"].bucket_name)
        cdk.CfnOutput(self, "CampaignsBucket", value=data.buckets["campaigns"].bucket_name)
        cdk.CfnOutput(self, "StateMachineArn", value=campaigns.state_machine.state_machine_arn)
