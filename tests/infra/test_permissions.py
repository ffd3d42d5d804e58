"""The synthesized roles hold exactly the catalog's grants (plus what CDK adds for logs, tracing
and event sources); the same declaration is what the local runtime enforces."""

from __future__ import annotations

from typing import Any

import pytest

from nudgeloop.permissions import Arns, pairs
from nudgeloop.resources import catalog
from nudgeloop_infra import lint

pytestmark = pytest.mark.slow

ACCOUNT, REGION = "123456789012", "eu-west-1"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
SENDER = lint.SENDER  # what the synth fixture synthesizes with


def resolve(value: Any, template: dict[str, Any]) -> str:
    """An IAM resource of the template as the ARN it becomes in one account and region."""
    if isinstance(value, str):
        return value
    resources = template["Resources"]
    if "Ref" in value:
        ref = value["Ref"]
        if ref in PSEUDO:
            return PSEUDO[ref]
        kind, props = resources[ref]["Type"], resources[ref].get("Properties", {})
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{props['Name']}-??????"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{props['StateMachineName']}"
        return f"<Ref {ref}>"
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve(p, template) for p in parts)
    if "Fn::GetAtt" in value:
        ref, attr = value["Fn::GetAtt"]
        kind, props = resources[ref]["Type"], resources[ref].get("Properties", {})
        if kind == "AWS::DynamoDB::GlobalTable":
            table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{props['TableName']}"
            return f"{table}/stream/*" if attr == "StreamArn" else table
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{resolve(props['BucketName'], template)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{props['QueueName']}"
        if kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{props['FunctionName']}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{props['LogGroupName']}:*"
        return f"<GetAtt {ref}.{attr}>"
    raise AssertionError(f"cannot resolve {value}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_pairs(template: dict[str, Any], function_name: str) -> set[tuple[str, str]]:
    """Every (action, resource) the role of ``function_name`` allows in the template."""
    resources = template["Resources"]
    fn = next(
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == function_name
    )
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    found: set[tuple[str, str]] = set()
    for res in resources.values():
        if res["Type"] != "AWS::IAM::Policy" or {"Ref": role} not in res["Properties"]["Roles"]:
            continue
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    found.add((action, resolve(resource, template)))
    return found


def platform(pair: tuple[str, str], spec: Any) -> bool:
    """What CDK grants a role besides our declaration: its logs, tracing, its event sources
    (queue, table stream) and their failure destinations."""
    action, resource = pair
    cat = catalog()
    if action.split(":")[0] in ("logs", "xray"):
        return True
    if spec.queue_key and resource == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{cat.queue(spec.queue_key).name}":
        return action in (
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        )
    streams = [s for s in cat.streams if s.function_key == spec.key]
    if any(resource == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{cat.table(s.table_key).name}/stream/*" for s in streams):
        return action.startswith("dynamodb:") and action.endswith(("Stream", "Streams", "Records", "ShardIterator"))
    failure_queues = {s.dlq_name for s in streams} | {cat.failures_queue}
    if resource in {f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}" for name in failure_queues}:
        return action in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
    return action == "dynamodb:ListStreams" and resource == "*"


@pytest.mark.parametrize("key", [f.key for f in catalog().functions])
def test_each_role_holds_exactly_the_declared_grants(template: dict[str, Any], key: str) -> None:
    cat = catalog()
    spec = cat.function(key)
    synthesized = role_pairs(template, spec.name)
    declared = pairs(spec, Arns(cat, ACCOUNT, REGION, sender=SENDER))
    assert declared, f"{key} declares no grants"
    assert declared <= synthesized, f"missing from the role: {sorted(declared - synthesized)}"
    extra = {p for p in synthesized - declared if not platform(p, spec)}
    assert not extra, f"granted but not declared: {sorted(extra)}"


def test_the_api_may_only_insert_events_and_never_send_mail(template: dict[str, Any]) -> None:
    granted = role_pairs(template, "nudgeloop-ingest-api")
    events = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/nudgeloop-events"
    assert ("dynamodb:PutItem", events) in granted
    assert not {(a, events) for a in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")} & granted
    assert not any(a.startswith("ses:") for a, _ in granted)
    # one-click unsubscribe counts in the engine table (a transaction of updates)
    assert ("dynamodb:UpdateItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/nudgeloop-engine") in granted


def test_only_the_senders_may_send_and_only_as_the_configured_identity(template: dict[str, Any]) -> None:
    senders = ("send", "send_confirmation", "broadcast", "broadcast_send")  # broadcast: its test sends
    for name in (f"nudgeloop-{key.replace('_', '-')}" for key in senders):
        sends = {r for a, r in role_pairs(template, name) if a == "ses:SendRawEmail"}
        assert sends == {
            f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/shop.example",
            f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/news@shop.example",
            f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/nudgeloop-mail",
            f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/nudgeloop-service",
        }
    others = [f.name for f in catalog().functions if f.key not in senders]
    assert not any(a.startswith("ses:Send") for name in others for a, _ in role_pairs(template, name))
