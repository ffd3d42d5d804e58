"""The CDK template and the local runtime's provisioning describe the same stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nudgeloop.journey_definition import PLACEHOLDERS

pytestmark = pytest.mark.slow


def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [v["Properties"] for v in template["Resources"].values() if v["Type"] == kind]


def key_schema(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def indexes(table: dict[str, Any], kind: str) -> list[tuple[Any, ...]]:
    return sorted(
        (
            i["IndexName"],
            tuple(key_schema(i["KeySchema"])),
            i["Projection"]["ProjectionType"],
            tuple(sorted(i["Projection"].get("NonKeyAttributes", []))),
        )
        for i in table.get(kind, [])
    )


def cdk_tables(template: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for t in of_type(template, "AWS::DynamoDB::GlobalTable"):
        out[t["TableName"]] = {
            "key": key_schema(t["KeySchema"]),
            "gsi": indexes(t, "GlobalSecondaryIndexes"),
            "lsi": indexes(t, "LocalSecondaryIndexes"),
            "ttl": (t.get("TimeToLiveSpecification") or {}).get("AttributeName"),
            "stream": (t.get("StreamSpecification") or {}).get("StreamViewType"),
        }
    return out


def local_tables(stack: Any) -> dict[str, Any]:
    from nudgeloop.adapters.aws import client

    ddb = client("dynamodb")
    out = {}
    for name in ddb.list_tables()["TableNames"]:
        t = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        out[name] = {
            "key": key_schema(t["KeySchema"]),
            "gsi": indexes(t, "GlobalSecondaryIndexes"),
            "lsi": indexes(t, "LocalSecondaryIndexes"),
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
            "stream": (t.get("StreamSpecification") or {}).get("StreamViewType"),
        }
    return out


def test_tables_match(template: dict[str, Any], stack: Any) -> None:
    assert cdk_tables(template) == local_tables(stack)


def test_queues_match(template: dict[str, Any], stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    sqs = client("sqs")
    cdk = {}
    for q in of_type(template, "AWS::SQS::Queue"):
        if "QueueName" in q:
            cdk[q["QueueName"]] = (
                q.get("VisibilityTimeout", 30),
                (q.get("RedrivePolicy") or {}).get("maxReceiveCount"),
            )
    local = {}
    for url in sqs.list_queues()["QueueUrls"]:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        name = url.rsplit("/", 1)[1]
        local[name] = (
            int(attrs["VisibilityTimeout"]),
            json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] if "RedrivePolicy" in attrs else None,
        )
    for name, value in local.items():
        if value[1] is None:  # DLQs: CDK leaves the default visibility timeout
            assert name in cdk and cdk[name][1] is None
        else:
            assert cdk[name] == value


def test_rules_route_the_same_events_to_the_same_queues(template: dict[str, Any], stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    events = client("events")
    cdk = {r["Name"]: r["EventPattern"] for r in of_type(template, "AWS::Events::Rule") if "EventPattern" in r}
    local = {}
    for bus in ("default", stack.catalog.bus_name):
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            local[rule["Name"]] = json.loads(rule["EventPattern"])
    assert cdk == local


def test_schedules_match(template: dict[str, Any], stack: Any) -> None:
    cdk = {r["Name"]: r["ScheduleExpression"] for r in of_type(template, "AWS::Events::Rule") if "ScheduleExpression" in r}
    local = {f"{stack.catalog.prefix}-{s.function_key.replace('_', '-')}": s.expression for s in stack.schedules}
    assert cdk == local


def test_state_machine_definition_is_the_same(template: dict[str, Any], stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    sm = of_type(template, "AWS::StepFunctions::StateMachine")[0]
    definition = sm["DefinitionString"]
    text = (
        definition if isinstance(definition, str) else "".join(p if isinstance(p, str) else "" for p in definition["Fn::Join"][1])
    )
    assert set(sm["DefinitionSubstitutions"]) == set(PLACEHOLDERS)
    local = client("stepfunctions").describe_state_machine(stateMachineArn=stack.res.state_machine_arn)["definition"]
    for placeholder, key in PLACEHOLDERS.items():
        local = local.replace(stack.res.function_arns[key], "${" + placeholder + "}")
    assert json.loads(text) == json.loads(local)


def test_functions_handlers_and_settings_match(template: dict[str, Any], stack: Any) -> None:
    cdk = {
        f["FunctionName"]: (f["Handler"], sorted(k for k in f["Environment"]["Variables"] if k.startswith("NL_")))
        for f in of_type(template, "AWS::Lambda::Function")
        if "FunctionName" in f
    }
    local_env = stack.settings_env()
    for spec in stack.catalog.functions:
        handler, env_names = cdk[spec.name]
        assert handler == spec.handler
        assert set(env_names) <= set(local_env)
    assert set(cdk) == {f.name for f in stack.catalog.functions}


def test_api_routes_match(template: dict[str, Any], stack: Any) -> None:
    resources = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::ApiGateway::Resource"}

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
            parent = resources[ref["Ref"]]
            return path_of(parent["ParentId"]) + "/" + parent["PathPart"]
        return ""

    cdk = {
        (m["HttpMethod"], path_of(m["ResourceId"]), m.get("ApiKeyRequired", False))
        for m in of_type(template, "AWS::ApiGateway::Method")
    }
    local = {(r.method, r.path, r.api_key_required) for r in stack.catalog.routes}
    assert cdk == local
