"""The local runtime refuses what AWS refuses: each handler runs with its role's permissions, and
requests beyond AWS's limits fail as they do in AWS (cli/nudgeloop_cli/local/fidelity.py, limits.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
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
    from nudgeloop.adapters.aws import client
    from nudgeloop.journey_definition import JOURNEY_FAILED, RECOVERY_DELAYS_S

    revoke(stack, "journey_plan", "table", "engine")
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    assert stack.outbox() == []
    # Plan fails every try: the journey cools down (journey_definition.RECOVERY_DELAYS_S), then fails
    assert [e["status"] for e in journeys(stack)] == ["RUNNING"]
    for delay in RECOVERY_DELAYS_S:
        stack.advance(timedelta(seconds=delay + 60))
    assert stack.outbox() == []
    [journey] = journeys(stack)
    ended = client("stepfunctions").describe_execution(executionArn=journey["executionArn"])
    assert (ended["status"], ended["error"]) == ("FAILED", JOURNEY_FAILED)
    assert "TransactWriteError" in ended["cause"]  # the denied write, as pynamodb raises it
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
    # a role that may read objects but not list the bucket learns nothing about what is missing
    from nudgeloop_cli.local.fidelity import Policy, _glob

    bucket = f"arn:aws:s3:::{stack.res.buckets['data']}"
    stack.enforcer.policies["ingest_archive"] = Policy(rules=[([_glob("s3:GetObject")], [_glob(f"{bucket}/*")])])
    with stack.enforcer.acting_as("ingest_archive"), pytest.raises(ClientError) as denied:
        client("s3").get_object(Bucket=stack.res.buckets["data"], Key="imports/none.csv")
    assert (denied.value.response["Error"]["Code"], denied.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDenied",
        403,
    )


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
    client("sqs").send_message(QueueUrl=stack.res.queue_urls["trigger"], MessageBody="x" * (256 * 1024 + 1))


# ---------------------------------------------------------------- Step Functions Standard's limits


def _welcome(stack) -> None:
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()


def _migration(on: str):
    from nudgeloop.adapters.bus import BusEvent

    return BusEvent(
        source="nudgeloop.segment",
        detail_type="SegmentMigrated",
        detail={"customer_id": "c1", "from": "prospect", "to": "new", "on": on, "reason": "replay"},
    )


def test_execution_names_are_forgotten_90_days_after_close_but_never_means_never(stack) -> None:
    """AWS reserves a closed execution's name for 90 days only: "never re-enter" is our claim."""
    from datetime import timedelta

    from nudgeloop.adapters.bus import EventBridgePublisher

    def welcomes() -> list[str]:
        return [e["status"] for e in journeys(stack) if e["name"].startswith("welcome-")]

    _welcome(stack)
    stack.advance(timedelta(days=4))  # the welcome series completes
    assert welcomes() == ["SUCCEEDED"]
    stack.advance(timedelta(days=91))
    assert welcomes() == []  # the name is free again, as in AWS
    EventBridgePublisher(stack.catalog.bus_name).publish([_migration("2026-04-06")])
    stack.settle()
    assert welcomes() == []  # and still nobody enters twice
    assert [m["step_id"] for m in stack.outbox() if m["campaign_id"] == "welcome"] == ["welcome", "followup"]


def test_a_trigger_retried_after_a_crash_between_claim_and_start_still_starts(stack, monkeypatch) -> None:
    from nudgeloop.services import trigger

    calls = {"n": 0}
    real = trigger._start

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crashed after the claim")
        return real(*args, **kwargs)

    monkeypatch.setattr(trigger, "_start", crash_once)
    _welcome(stack)  # the trigger message is retried by SQS and this time starts the journey
    assert [m["step_id"] for m in stack.outbox()] == ["welcome"]
    assert len(journeys(stack)) == 1


def test_an_execution_running_for_a_year_times_out(stack) -> None:
    from nudgeloop.adapters.aws import client

    _welcome(stack)  # parked on its three-day wait
    later = stack.clock.now().timestamp() + 365 * 86400
    with stack.aws_lock:
        assert stack.sfn_limits.sweep(later) == 1
        run = client("stepfunctions").describe_execution(executionArn=journeys(stack)[0]["executionArn"])
    assert (run["status"], run["error"]) == ("TIMED_OUT", "States.Timeout")


def test_an_execution_reaching_25000_history_events_fails(stack, monkeypatch) -> None:
    from nudgeloop.adapters.aws import client
    from nudgeloop_cli.local import limits

    _welcome(stack)
    monkeypatch.setattr(limits, "STANDARD_MAX_HISTORY", 5)  # the welcome journey has more by now
    with stack.aws_lock:
        assert stack.sfn_limits.sweep(stack.clock.now().timestamp()) == 1
        run = client("stepfunctions").describe_execution(executionArn=journeys(stack)[0]["executionArn"])
    assert (run["status"], run["error"]) == ("FAILED", "States.Runtime")


def test_a_wait_that_would_outlive_the_execution_ends_the_journey(stack) -> None:
    from datetime import timedelta

    stack.put_campaign(
        "late.yaml",
        b"""
id: late
name: Late
trigger: {type: behaviour, event: custom.late}
reentry: every_occurrence
steps:
  - {id: far, type: wait, until: {anchor: date, day: 2027-06-01}}
  - {id: offer, type: send, template: newsletter}
""",
    )
    post_events(
        stack,
        [
            upsert("c1"),
            consent("c1"),
            {
                "event_id": "late-1",
                "type": "custom.late",
                "customer_id": "c1",
                "occurred_at": "2026-01-01T08:00:00Z",
                "properties": {},
            },
        ],
    )
    stack.settle()
    from nudgeloop.adapters.aws import client

    runs = [e for e in journeys(stack) if e["name"].startswith("late-")]
    assert [e["status"] for e in runs] == ["SUCCEEDED"]
    with stack.aws_lock:
        out = json.loads(client("stepfunctions").describe_execution(executionArn=runs[0]["executionArn"])["output"])
    assert out["reason"] == "time_limit:far"
    stack.advance(timedelta(days=1))
    assert [m for m in stack.outbox() if m["campaign_id"] == "late"] == []


def test_a_handler_running_past_its_timeout_fails_as_lambda_ends_it(stack) -> None:
    fast = tuple(replace(f, timeout_s=0) if f.key == "trigger_start" else f for f in stack.catalog.functions)
    stack.catalog = replace(stack.catalog, functions=fast)
    _welcome(stack)
    # as Lambda reports a timeout
    assert {f["error"] for f in stack.failures if f["function"] == "trigger_start"} == {"Sandbox.Timedout"}
    assert stack.dlq_depths()["nudgeloop-trigger-dlq"] == 1  # each try "timed out": retried, then kept
    # locally the first try's work happened before it was declared timed out; its retries found
    # the journey claimed and started: one journey, one mail
    assert len(journeys(stack)) == 1 and [m["step_id"] for m in stack.outbox()] == ["welcome"]


def test_a_scheduled_job_that_keeps_failing_is_retried_once_then_kept_in_its_failure_queue(stack, monkeypatch) -> None:
    from datetime import timedelta

    def broken(event, context):
        raise RuntimeError("the analytics job is broken")

    monkeypatch.setitem(stack.handlers, "analytics", broken)
    stack.advance(timedelta(days=1))  # its schedule fires once (04:45)
    assert [f["error"] for f in stack.failures if f["function"] == "analytics"] == ["RuntimeError"] * 2
    assert stack.dlq_depths()["nudgeloop-failures"] == 1  # the one failures queue (specs.Catalog.failures_queue)
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        url = stack.res.dlq_urls["nudgeloop-failures"]
        record = json.loads(client("sqs").receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["functionArn"].split(":")[6] == "nudgeloop-analytics"  # it names the function
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"
    assert record["responsePayload"]["errorMessage"] == "the analytics job is broken"


def test_an_update_is_limited_by_the_size_of_the_item_it_results_in_as_in_dynamodb(stack) -> None:
    """moto checked each action against the item as it was; DynamoDB checks the resulting item."""
    from nudgeloop.adapters.aws import client

    ddb = client("dynamodb")
    key = {"key": {"S": "big"}}
    ddb.put_item(TableName="nudgeloop-recs", Item={**key, "a": {"S": "x" * 300_000}, "b": {"S": "y" * 100_000}})
    # grow b by 50 KB while a shrinks by 250 KB: the result is far inside the limit
    ddb.update_item(
        TableName="nudgeloop-recs",
        Key=key,
        UpdateExpression="SET b = :b, a = :a",
        ExpressionAttributeValues={":b": {"S": "y" * 150_000}, ":a": {"S": "x" * 50_000}},
    )
    with pytest.raises(ClientError) as too_big:  # growing past the limit is still refused
        ddb.update_item(
            TableName="nudgeloop-recs",
            Key=key,
            UpdateExpression="SET c = :c",
            ExpressionAttributeValues={":c": {"S": "z" * 300_000}},
        )
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    held = ddb.get_item(TableName="nudgeloop-recs", Key=key)["Item"]
    assert (len(held["a"]["S"]), len(held["b"]["S"]), "c" in held) == (50_000, 150_000, False)
