"""cdk-nag acknowledgements: every one carries its reason."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from constructs import IConstruct

PACK = "AwsSolutions::AwsSolutions"


def acknowledge(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings (``AwsSolutions-RULE`` or a full finding id) on ``scope``."""
    for rule, reason in reasons.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def _logical_id(resource: IConstruct) -> str:
    stack = cdk.Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource.node.default_child)))  # type: ignore[arg-type]


def acknowledge_grant_wildcards(
    stack: cdk.Stack,
    tables: Iterable[IConstruct],
    buckets: Iterable[IConstruct],
    functions: Iterable[IConstruct],
    prefixes: Iterable[str] = (),
) -> None:
    """The wildcard findings that CDK's grant helpers produce on our own resources, each explained.

    cdk-nag v3 wants every finding acknowledged by its own id; they are derived here from the
    resources so that a new table or bucket cannot slip through unexplained.
    """
    reasons = {
        f"{PACK}-IAM5[Resource::*]": "X-Ray tracing (PutTraceSegments, PutTelemetryRecords) accepts no resource ARN.",
        f"{PACK}-IAM5[Action::s3:GetObject*]": "CDK grant_read on our own versioned buckets (GetObject, GetObjectVersion).",
        f"{PACK}-IAM5[Action::s3:GetBucket*]": "CDK grant_read on our own buckets (bucket location and versioning reads).",
        f"{PACK}-IAM5[Action::s3:List*]": "CDK grant_read on our own buckets (listing campaign definitions and templates).",
        f"{PACK}-IAM5[Action::s3:Abort*]": "CDK grant_put on our own bucket prefixes (aborting a multipart upload).",
    }
    for table in tables:
        reasons[f"{PACK}-IAM5[Resource::<{_logical_id(table)}.Arn>/index/*]"] = (
            "Queries on the indexes of this stack's own table."
        )
    for bucket in buckets:
        reasons[f"{PACK}-IAM5[Resource::<{_logical_id(bucket)}.Arn>/*]"] = "Objects of this stack's own bucket."
        for prefix in prefixes:
            reasons[f"{PACK}-IAM5[Resource::<{_logical_id(bucket)}.Arn>/{prefix}*]"] = (
                f"Objects under {prefix} of this stack's own bucket (one prefix per function's job)."
            )
    for fn in functions:
        reasons[f"{PACK}-IAM5[Resource::<{_logical_id(fn)}.Arn>:*]"] = (
            "Versions and aliases of this stack's own function (Step Functions invokes qualified ARNs)."
        )
    acknowledge(stack, reasons)
