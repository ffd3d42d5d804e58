"""The local runtime refuses what AWS refuses: each handler runs with its role's permissions, and
requests beyond AWS's limits fail as they do in AWS (cli/nudgeloop_cli/local/fidelity.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.conftest import consent, get_customer, order, post_events, upsert


def revoke(stack, function_key: str, kind: str, target: str) -> None:
    """Run ``function_key`` as if its role lacked every grant of ``kind`` on ``target``."""
    spec = stack.catalog.function(function_key)
    kept = tuple(g for g in spec.grants if not (g.kind == kind and g.target == target))
    assert kept != spec.grants
    stack.enforcer.policies[function_key] = stack.enforcer.compile(replace(spec, grants=kept))


def journeys(stack) -> list[dict]:
    from nudgeloop.adapters.aws import client

    return client("stepfunctions").list_executions(stateMachineArn=stack.res.state_machine_arn)["executions"]


def test_a_journey_planner_without_write_access_to_the_engine_table_fails_as_in_aws(stack) -> None:
    revoke(stack, "journey_plan", "table", "engine")
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    assert stack.outbox() == []
    assert [e["status"] for e in journeys(stack)] == ["FAILED"]
    denied = [d for d in stack.enforcer.denials if d["function"] == "journey_plan"]
    assert denied and denied[0]["resource"].endswith(":table/nudgeloop-engine")
    assert denied[0]["action"] in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem")


def test_with_its_declared_grants_the_same_journey_sends(stack) -> None:
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    assert [m["step_id"] for m in stack.outbox()] == ["welcome"]
    assert [e["status"] for e in journeys(stack)] == ["RUNNING"]  # parked on its wait
    assert stack.enforcer.denials == []


def _unsubscribe_token(stack) -> str:
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    url = stack.outbox()[0]["headers"]["List-Unsubscribe"].strip("<>")
    return parse_qs(urlsplit(url).query)["token"][0]


def test_one_click_unsubscribe_without_engine_writes_is_a_counted_function_error(stack) -> None:
    token = _unsubscribe_token(stack)
    revoke(stack, "ingest_api", "table", "engine")
    status, _h, body = stack.api("POST", "/v1/unsubscribe", query={"token": token})
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert any(f["function"] == "ingest_api" for f in stack.failures)


def test_one_click_unsubscribe_with_its_grants_answers_200_and_counts(stack) -> None:
    token = _unsubscribe_token(stack)
    status, _h, body = stack.api("POST", "/v1/unsubscribe", query={"token": token})
    assert status == 200 and json.loads(body)["unsubscribed"] is True
    stack.settle()
    assert get_customer(stack, "c1")[1]["consents"]["newsletter"]["status"] == "opt_out"


def test_denials_have_aws_error_shapes_per_service(stack) -> None:
    from nudgeloop.adapters.aws import client

    with stack.enforcer.acting_as("ingest_archive"):  # may only put archive objects
        with pytest.raises(ClientError) as ddb:
            client("dynamodb").get_item(TableName="nudgeloop-customers", Key={"customer_id": {"S": "x"}})
        with pytest.raises(ClientError) as s3:
            client("s3").put_object(Bucket=stack.res.buckets["data"], Key="sent/x.eml", Body=b"x")
        with pytest.raises(ClientError) as bus:
            client("events").put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "nudgeloop-bus"}]
            )
        client("s3").put_object(Bucket=stack.res.buckets["data"], Key="archive/events/dt=2026-01-01/x.jsonl", Body=b"x")
    assert ddb.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:" in str(ddb.value)
    assert s3.value.response["Error"]["Code"] == "AccessDenied"
    assert bus.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_transaction_is_authorised_per_contained_action_and_table(stack) -> None:
    requested = stack.enforcer.requested(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "nudgeloop-engine", "Item": {}}},
                {"Update": {"TableName": "nudgeloop-customers", "Key": {}}},
                {"ConditionCheck": {"TableName": "nudgeloop-events", "Key": {}}},
            ]
        },
    )
    assert [(a, r.rsplit("/", 1)[-1]) for a, r in requested] == [
        ("dynamodb:PutItem", "nudgeloop-engine"),
        ("dynamodb:UpdateItem", "nudgeloop-customers"),
        ("dynamodb:ConditionCheckItem", "nudgeloop-events"),
    ]
    # segment-counts may write the engine table but not the customers table
    from nudgeloop.adapters.aws import client

    with stack.enforcer.acting_as("segment_counts"), pytest.raises(ClientError) as denied:
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "nudgeloop-engine", "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}},
                {"Put": {"TableName": "nudgeloop-customers", "Item": {"customer_id": {"S": "x"}}}},
            ]
        )
    assert "dynamodb:PutItem on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/nudgeloop-customers" in str(denied.value)


def test_a_missing_object_is_403_to_a_caller_who_may_not_list_the_bucket(stack) -> None:
    from nudgeloop.adapters.aws import client

    with stack.enforcer.acting_as("ingest_import"), pytest.raises(ClientError) as hidden:
        client("s3").get_object(Bucket=stack.res.buckets["data"], Key="imports/none.csv")
    assert hidden.value.response["Error"]["Code"] == "NoSuchKey"  # it may list the data bucket
    with stack.enforcer.acting_as("journey_plan"), pytest.raises(ClientError) as missing:
        client("s3").get_object(Bucket=stack.res.buckets["campaigns"], Key="campaigns/none.yaml")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda c, res: c("dynamodb").batch_write_item(
                RequestItems={"nudgeloop-recs": [{"PutRequest": {"Item": {"key": {"S": str(i)}}}} for i in range(26)]}
            ),
            "ValidationException",
        ),
        (
            lambda c, res: c("dynamodb").transact_write_items(
                TransactItems=[{"Put": {"TableName": "nudgeloop-recs", "Item": {"key": {"S": str(i)}}}} for i in range(101)]
            ),
            "ValidationException",
        ),
        (
            lambda c, res: c("events").put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "nudgeloop-bus"}] * 11
            ),
            "ValidationException",
        ),
        (
            lambda c, res: c("events").put_events(
                Entries=[
                    {
                        "Source": "s",
                        "DetailType": "d",
                        "Detail": json.dumps({"x": "y" * 262_144}),
                        "EventBusName": "nudgeloop-bus",
                    }
                ]
            ),
            "ValidationException",
        ),
        (
            lambda c, res: c("sqs").send_message(QueueUrl=res.queue_urls["trigger"], MessageBody="x" * (1024 * 1024 + 1)),
            "InvalidParameterValue",
        ),
        (
            lambda c, res: c("stepfunctions").start_execution(stateMachineArn=res.state_machine_arn, name="a" * 81, input="{}"),
            "InvalidName",
        ),
        (
            lambda c, res: c("stepfunctions").start_execution(stateMachineArn=res.state_machine_arn, name="a:b", input="{}"),
            "InvalidName",
        ),
        (
            lambda c, res: c("stepfunctions").start_execution(
                stateMachineArn=res.state_machine_arn, name="big", input=json.dumps({"x": "y" * 262_144})
            ),
            "InvalidExecutionInput",
        ),
    ],
)
def test_requests_beyond_aws_limits_are_refused(stack, call, code) -> None:
    from nudgeloop.adapters.aws import client

    with pytest.raises(ClientError) as refused:
        call(client, stack.res)
    assert refused.value.response["Error"]["Code"] == code


def test_requests_at_the_limits_pass(stack) -> None:
    from nudgeloop.adapters.aws import client

    client("dynamodb").batch_write_item(
        RequestItems={"nudgeloop-recs": [{"PutRequest": {"Item": {"key": {"S": str(i)}}}} for i in range(25)]}
    )
    client("events").put_events(
        Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "nudgeloop-bus"}] * 10
    )
    client("sqs").send_message(QueueUrl=stack.res.queue_urls["imports"], MessageBody="x" * (256 * 1024 + 1))
