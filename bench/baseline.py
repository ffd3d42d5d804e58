"""The yardstick the local-runtime benches divide by: moto writing the same number of items
into one table with BatchWriteItem (25 a request), in the same run."""

from __future__ import annotations

import json
import time
from typing import Any


def batch_write_seconds(stack: Any, items: list[dict[str, Any]]) -> float:
    """Seconds moto takes to BatchWriteItem these events (25 a request) into a fresh table."""
    from nudgeloop.adapters import aws

    table = stack.catalog.table("events").name + "-direct"
    with stack.aws_lock:
        ddb = aws.client("dynamodb")
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "event_id", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "customer_id", "AttributeType": "S"},
                {"AttributeName": "event_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        began = time.perf_counter()
        for i in range(0, len(items), 25):
            ddb.batch_write_item(
                RequestItems={
                    table: [
                        {
                            "PutRequest": {
                                "Item": {
                                    "customer_id": {"S": e["customer_id"]},
                                    "event_id": {"S": e["event_id"]},
                                    "type": {"S": e["type"]},
                                    "occurred_at": {"S": e["occurred_at"]},
                                    "properties": {"S": json.dumps(e["properties"])},
                                }
                            }
                        }
                        for e in items[i : i + 25]
                    ]
                }
            )
        return time.perf_counter() - began
