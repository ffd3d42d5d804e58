"""The local runtime's faster SQS, EventBridge and Step Functions paths
(cli/nudgeloop_cli/local/moto_hot_paths.py) answer exactly as moto as shipped answers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nudgeloop_cli.local import moto_hot_paths

REGION = "eu-west-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    moto_hot_paths.install()
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("sqs", "events")}


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    for m in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in got]


def test_eventbridge_targets_get_the_same_input_as_shipped(aws: dict[str, Any]) -> None:
    sqs, events = aws["sqs"], aws["events"]
    url = sqs.create_queue(QueueName="target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(
        Rule="r",
        Targets=[
            {"Id": "whole", "Arn": arn},
            {
                "Id": "shaped",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"who": "$.detail.customer", "what": "$.detail.items[0].sku"},
                    "InputTemplate": '{"customer": "<who>", "first": "<what>"}',
                },
            },
        ],
    )
    entry = {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"customer": "c1", "items": [{"sku": "TEA"}]})}

    def deliveries() -> list[dict[str, Any]]:
        for _ in range(2):
            events.put_events(Entries=[entry])
        got = _drain(sqs, url) + _drain(sqs, url)
        return sorted(({k: v for k, v in m.items() if k not in ("id", "time")} for m in got), key=json.dumps)

    ours = deliveries()
    with moto_hot_paths.as_shipped():
        shipped = deliveries()
    assert ours == shipped
    assert {"customer": "c1", "first": "TEA"} in ours


def test_receive_honours_the_retention_period_as_shipped(aws: dict[str, Any]) -> None:
    from moto.sqs.models import sqs_backends

    sqs = aws["sqs"]
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]

    def receive_after_aging(age_s: int) -> int:
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        queue = sqs_backends["123456789012"][REGION].queues["short"]
        for message in queue._messages:
            message.sent_timestamp -= age_s * 1000  # as if sent that long ago
        got = _drain(sqs, url)
        queue._messages.clear()
        return len(got)

    for age in (30, 61, 3600):
        ours = receive_after_aging(age)
        with moto_hot_paths.as_shipped():
            shipped = receive_after_aging(age)
        assert ours == shipped == (1 if age < 60 else 0)


def test_sending_deduplicates_and_counts_as_shipped(aws: dict[str, Any]) -> None:
    sqs = aws["sqs"]
    fifo = {"FifoQueue": "true"}
    queues = {
        "plain": {},
        "by-content.fifo": fifo | {"ContentBasedDeduplication": "true"},
        "by-id.fifo": fifo | {"ContentBasedDeduplication": "false"},
    }

    def send_all(suffix: str) -> list[Any]:
        seen = []
        for name, attributes in queues.items():
            base, dot, kind = name.partition(".")
            url = sqs.create_queue(QueueName=f"{base}-{suffix}{dot}{kind}", Attributes=attributes)["QueueUrl"]
            for body in ("a", "a", "b"):
                extra = {"MessageGroupId": "g"} if kind else {}
                if name == "by-id.fifo":
                    extra["MessageDeduplicationId"] = body
                try:
                    sqs.send_message(QueueUrl=url, MessageBody=body, **extra)
                    seen.append("sent")
                except Exception as exc:  # the refusal is the answer compared
                    seen.append(type(exc).__name__)
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            seen.append({k: v for k, v in counts.items() if k not in ("QueueArn", "CreatedTimestamp", "LastModifiedTimestamp")})
            seen.append(sorted(m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])))
        return seen

    ours = send_all("ours")
    with moto_hot_paths.as_shipped():
        shipped = send_all("shipped")
    assert ours == shipped
    assert ours[4] == ["a", "a", "b"] and ours[9] == ours[14] == ["a", "b"]  # the FIFO queues kept one "a"


MACHINE = {
    "StartAt": "Shape",
    "States": {
        "Shape": {"Type": "Pass", "Parameters": {"n.$": "$.n", "tag": "shaped"}, "Next": "Big?"},
        "Big?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}], "Default": "Small"},
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Fail", "Error": "Small", "Cause": "n is small"},
    },
}


def _run_machine(sfn: Any, arn: str, inputs: list[int], run: str) -> list[tuple[str, Any, list[str]]]:
    import time

    started = [
        sfn.start_execution(stateMachineArn=arn, name=f"{run}-{i}", input=json.dumps({"n": n}))["executionArn"]
        for i, n in enumerate(inputs)
    ]
    outcomes = []
    for execution in started:
        for _ in range(500):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.01)
        history = sfn.get_execution_history(executionArn=execution)["events"]
        outcomes.append((described["status"], json.loads(described.get("output", "null")), [e["type"] for e in history]))
    return outcomes


@pytest.fixture
def executing() -> Iterator[Any]:
    """Step Functions as the local runtime runs it: executions interpreted."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    moto_hot_paths.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def test_executions_of_one_parsed_definition_run_apart_as_shipped(executing: Any) -> None:
    from moto.stepfunctions.parser.backend import execution_worker

    sfn = executing
    role = "arn:aws:iam::123456789012:role/journey"
    arn = sfn.create_state_machine(name="m", definition=json.dumps(MACHINE), roleArn=role)["stateMachineArn"]
    inputs = [1, 9, 3, 12, 7, 2]
    parse = execution_worker.AmazonStateLanguageParser.parse
    before = parse.cache_info().hits
    ours = _run_machine(sfn, arn, inputs, "ours")
    assert parse.cache_info().hits >= before + len(inputs) - 1  # parsed once, shared
    with moto_hot_paths.as_shipped():
        shipped = _run_machine(sfn, arn, inputs, "shipped")
    assert ours == shipped
    assert [status for status, _, _ in ours] == ["FAILED", "SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert ours[1][1] == {"n": 9, "tag": "shaped", "size": "big"}


def test_requests_carry_the_same_user_agent_and_get_the_same_answers_as_shipped(aws: dict[str, Any]) -> None:
    sent: list[tuple[str, str | None, bool]] = []

    def record(request: Any, **_: Any) -> None:
        agent = request.headers.get("User-Agent", b"").decode()
        sent.append((agent, request.url.split("/")[2], "Authorization" in request.headers))

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    for client in (dynamodb, s3):
        client.meta.events.register_last("before-send", record)
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket="a-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})

    def calls() -> list[Any]:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        s3.put_object(Bucket="a-bucket", Key="k", Body=b"body")
        answers = [
            dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"],
            dynamodb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})[
                "Items"
            ],
            s3.get_object(Bucket="a-bucket", Key="k")["Body"].read(),
        ]
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.get_item(TableName="missing", Key={"pk": {"S": "a"}})
        return answers

    sent.clear()
    ours, ours_sent = calls(), list(sent)
    sent.clear()
    with moto_hot_paths.as_shipped():
        shipped, shipped_sent = calls(), list(sent)
    assert ours == shipped
    assert [(ua, host) for ua, host, _ in ours_sent] == [(ua, host) for ua, host, _ in shipped_sent]
    # DynamoDB's requests go unsigned (moto reads no signature), S3's stay signed
    assert [signed for _, host, signed in ours_sent] == [not host.startswith("dynamodb") for _, host, _ in ours_sent]
    assert all(signed for _, _, signed in shipped_sent)


def test_listings_carry_the_same_timestamps_as_shipped(aws: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="listed", CreateBucketConfiguration={"LocationConstraint": REGION})
    for key in ("a.yaml", "b.yaml", "c/d.yaml"):
        s3.put_object(Bucket="listed", Key=key, Body=key.encode())

    def listing() -> list[tuple[str, Any, str]]:
        answer = s3.list_objects_v2(Bucket="listed")["Contents"]
        head = s3.head_object(Bucket="listed", Key="a.yaml")["LastModified"]
        return [(o["Key"], o["LastModified"], o["ETag"]) for o in answer] + [("head", head, "")]

    ours, again = listing(), listing()  # the second from the converted timestamps
    with moto_hot_paths.as_shipped():
        shipped = listing()
    assert ours == again == shipped
    assert all(when.tzinfo is not None and when.year >= 2024 for _, when, _ in ours)


def test_random_identifiers_keep_their_alphabet_length_and_seeding() -> None:
    import string

    from moto.moto_api._internal import mock_random

    moto_hot_paths.install()
    for _ in range(50):
        drawn = mock_random.get_random_string(length=52)
        assert len(drawn) == 52 and set(drawn) <= set(string.ascii_letters + string.digits)
        assert set(mock_random.get_random_string(length=30, include_digits=False, lower_case=True)) <= set(string.ascii_lowercase)
        assert len(hexed := mock_random.get_random_hex(12)) == 12 and set(hexed) <= set("0123456789abcdef")
    assert len({mock_random.get_random_string() for _ in range(100)}) == 100
    mock_random.seed(7)
    first = [mock_random.get_random_string(), mock_random.get_random_hex()]
    mock_random.seed(7)
    assert [mock_random.get_random_string(), mock_random.get_random_hex()] == first
    mock_random.seed()  # random again for what runs next
    with moto_hot_paths.as_shipped():
        shipped = mock_random.get_random_string(length=52)
    assert len(shipped) == 52 and set(shipped) <= set(string.ascii_letters + string.digits)


def _environ(method: str, url: str, headers: list[tuple[str, Any]], body: Any) -> dict[str, Any]:
    from botocore.awsrequest import HTTPHeaders
    from moto.core.request import Request

    held = HTTPHeaders()
    for key, value in headers:
        held[key] = value  # an HTTPHeaders keeps repeated names, as botocore sends them
    request = Request.from_primitives(method, url, held, body)
    data = request.get_data()
    environ = {k: v for k, v in request.environ.items() if k not in ("werkzeug.request", "wsgi.input")}
    return {**environ, "data": data, "headers": sorted(request.headers.items())}


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        (
            "POST",
            "https://dynamodb.eu-west-1.amazonaws.com/",
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
                ("Content-Length", "99"),
            ],
            b'{"TableName": "t"}',
        ),
        (
            "POST",
            "https://sqs.eu-west-1.amazonaws.com/",
            [("X-Amz-Target", b"AmazonSQS.SendMessage"), ("x-amz-meta-my_key", "v"), ("Accept", "a"), ("accept", "b")],
            b"{}",
        ),
        ("POST", "https://events.eu-west-1.amazonaws.com/", [("Transfer-Encoding", "chunked"), ("Content-Type", "x")], b"{}"),
        ("GET", "https://s3.eu-west-1.amazonaws.com/bucket/key?versionId=1", [("Range", "bytes=0-1")], None),  # as shipped
        ("POST", "https://sqs.eu-west-1.amazonaws.com/", [], b""),  # no body: as shipped
        ("POST", "http://localhost:5000/", [], b"{}"),  # another scheme and a port: as shipped
    ],
)
def test_a_request_is_built_as_werkzeug_builds_it(
    method: str, url: str, headers: list[tuple[str, Any]], body: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from werkzeug import test as werkzeug_test

    moto_hot_paths.install()
    built: list[str] = []
    builder = werkzeug_test.EnvironBuilder.get_environ
    monkeypatch.setattr(werkzeug_test.EnvironBuilder, "get_environ", lambda self: built.append(url) or builder(self))
    ours = _environ(method, url, headers, body)
    assert bool(built) == (not body or not url.startswith("https://") or "?" in url)  # the builder only as shipped
    with moto_hot_paths.as_shipped():
        shipped = _environ(method, url, headers, body)
    assert ours == shipped
    assert ours["data"] == (body or b"")
