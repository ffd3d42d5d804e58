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
