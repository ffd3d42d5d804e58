"""The table the emulator's DynamoDB tests run against (``support.py`` has their helpers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nudgeloop_cli.local import dynamodb

from .support import TABLE


@pytest.fixture
def ddb() -> Iterator[Any]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "lane", "due", "kind")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-due",
                    "KeySchema": [{"AttributeName": "lane", "KeyType": "HASH"}, {"AttributeName": "due", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
                },
                {
                    "IndexName": "by-kind",
                    "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for p in range(6):
            for s in range(12):
                item: dict[str, Any] = {
                    "pk": {"S": f"p{p}"},
                    "sk": {"S": f"s{(s * 7) % 12:02d}"},
                    "n": {"N": str(s * 3 - 10)},
                    "note": {"S": f"note {p}/{s}"},
                    "secret": {"S": "not projected"},
                }
                if s % 3:  # a third of the items are not in the due index (sparse)
                    item["lane"] = {"S": str((p + s) % 3)}
                    item["due"] = {"S": f"2026-01-{1 + (s % 4):02d}"}  # equal index keys across items
                if s % 2:
                    item["kind"] = {"S": "odd"}
                client.put_item(TableName=TABLE, Item=item)
        yield client
