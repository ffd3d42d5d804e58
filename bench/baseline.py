"""The yardstick the local-runtime benches divide by: moto writing the same number of items
into one table with BatchWriteItem (25 a request), in the same run: the fastest of five runs,
each into a fresh table. One run alone varies by half on this machine (1.07-1.60 s for the
CDNOW sample's 9,276 items, in two clusters); the fastest is the steadiest figure, and the
strictest yardstick (the ratio it gives is the largest)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def batch_write_seconds(stack: Any, items: list[dict[str, Any]], runs: int = 5) -> float:
    """Seconds moto takes to BatchWriteItem these events (25 a request) into a fresh table,
    the fastest of ``runs``; each run's figure is printed."""
    figures = [_batch_write_once(stack, items, f"-direct-{run}") for run in range(runs)]
    print("BatchWriteItem runs (s):", ", ".join(f"{f:.2f}" for f in figures), file=sys.stderr)
    return min(figures)


def _batch_write_once(stack: Any, items: list[dict[str, Any]], suffix: str) -> float:
    from nudgeloop.adapters import aws

    table = stack.catalog.table("events").name + suffix
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
