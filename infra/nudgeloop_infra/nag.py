"""cdk-nag acknowledgements: every one carries its reason."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from constructs import IConstruct

from nudgeloop.permissions import Arns, resources_of
from nudgeloop.specs import Catalog

PACK = "AwsSolutions::AwsSolutions"


def acknowledge(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings (``AwsSolutions-RULE`` or a full finding id) on ``scope``."""
    for rule, reason in reasons.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def _logical_id(resource: IConstruct) -> str:
    stack = cdk.Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource.node.default_child)))  # type: ignore[arg-type]


def acknowledge_grant_wildcards(stack: cdk.Stack, catalog: Catalog, functions: Iterable[IConstruct]) -> None:
    """The wildcard findings of our roles, each explained.

    cdk-nag v3 wants every finding acknowledged by its own id; they are derived here from the
    catalog's grants (rendered as cdk-nag prints them) so that a new grant cannot slip through
    unexplained.
    """
    reasons = {
        f"{PACK}-IAM5[Resource::*]": "X-Ray tracing (PutTraceSegments, PutTelemetryRecords) accepts no resource ARN.",
    }
    arns = Arns(catalog, "<AWS::AccountId>", "<AWS::Region>", "<AWS::Partition>")
    for spec in catalog.functions:
        for grant in spec.grants:
            for resource in resources_of(grant, arns):
                if "*" not in resource:
                    continue
                if grant.kind == "table":
                    why = f"Queries on the indexes of this stack's own {grant.target} table."
                elif grant.kind == "state_machine":
                    why = "Executions of this stack's own journey state machine (their names are the journeys' idempotency keys)."
                elif grant.kind == "api_keys":
                    why = (
                        "API keys have generated ids: the API reads a caller's key (its scope tag), and /v1/keys "
                        "creates, tags, lists and revokes keys; it changes only keys tagged with this stack."
                    )
                else:
                    where = f"under {grant.prefix} " if grant.prefix else ""
                    why = f"Objects {where}of this stack's own {grant.target} bucket (one prefix per function's job)."
                reasons[f"{PACK}-IAM5[Resource::{resource}]"] = why
    for fn in functions:
        reasons[f"{PACK}-IAM5[Resource::<{_logical_id(fn)}.Arn>:*]"] = (
            "Versions and aliases of this stack's own function (Step Functions invokes qualified ARNs)."
        )
    acknowledge(stack, reasons)


# cfn-lint-serverless wants X-Ray on every function (WS1000), API stage (WS2002) and state
# machine (WS5000). Tracing is a setting (context tracing=true), off by default: X-Ray bills every
# recorded trace (docs/costs.md). Without it, the untraced resources are exempt, each on itself.
UNTRACED_CHECKS = {
    "AWS::Lambda::Function": "WS1000",
    "AWS::ApiGateway::Stage": "WS2002",
    "AWS::StepFunctions::StateMachine": "WS5000",
}


def untraced(construct: IConstruct) -> None:
    """Exempt ``construct``'s resource from cfn-lint-serverless's tracing check (tracing is off)."""
    resource = construct.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": [UNTRACED_CHECKS[resource.cfn_resource_type]]}})
