"""Segmentation benchmarks (issue: customer staircase). Prints its figures.

    .venv/bin/python bench/segmentation.py [--customers 100000] [--due-share 0.01]

1. Classification throughput of the pure staircase (customers per second, one process).
2. Items the daily run reads for N customers of whom a share is due, against a full scan.
3. PutEvents calls per 1,000 migrations (floor: 100, at 10 entries per call), made by the events
   stream's consumer from the history entries the daily run saves with the customers.

2 and 3 run the real daily handler on the local runtime (moto), counting the requests our code
makes with botocore hooks.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from nudgeloop.domain.staircase import Staircase, place

START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def classification_throughput(n: int = 50_000, seed: int = 1) -> float:
    rng = random.Random(seed)
    today = START.date()
    stairs = Staircase.default()
    histories = [
        [
            (today - timedelta(days=rng.randint(0, 900)), Decimal(rng.randint(5, 200)))
            for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8]))
        ]
        for _ in range(n)
    ]
    began = time.perf_counter()
    for history in histories:
        place(history, today, stairs)
    return n / (time.perf_counter() - began)


def daily_run_reads(customers: int, due_share: float, seed: int = 2) -> dict[str, Any]:
    from nudgeloop.adapters import aws
    from nudgeloop.layout import REVIEW_SHARDS
    from nudgeloop_cli.local.runtime import LocalStack

    rng = random.Random(seed)
    stack = LocalStack(start=START).start()
    try:
        ddb = aws.client("dynamodb")
        table = stack.catalog.table("customers").name
        today = START.date()
        due = set(rng.sample(range(customers), int(customers * due_share)))
        began = time.perf_counter()
        items = []
        orders = []
        for i in range(customers):
            first = today - timedelta(days=91 if i in due else rng.randint(0, 80))
            review = today if i in due else first + timedelta(days=91)
            items.append(
                {
                    "customer_id": {"S": f"c{i:07d}"},
                    "segment": {"S": "new"},
                    "version": {"N": "1"},
                    "review_shard": {"S": str(i % REVIEW_SHARDS)},
                    "review_on": {"S": review.isoformat()},
                }
            )
            orders.append(
                {
                    "customer_id": {"S": f"c{i:07d}"},
                    "event_id": {"S": f"o{i}"},
                    "type": {"S": "order.completed"},
                    "occurred_at": {"S": f"{first.isoformat()}T10:00:00Z"},
                    "received_at": {"S": f"{first.isoformat()}T10:00:00Z"},
                    "source": {"S": "bench"},
                    "properties": {"S": f'{{"order_id": "o{i}", "total": "25.00", "currency": "EUR"}}'},
                }
            )
        events_table = stack.catalog.table("events").name
        for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 items
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]})
            ddb.batch_write_item(RequestItems={events_table: [{"PutRequest": {"Item": it}} for it in orders[start : start + 25]]})
        load_s = time.perf_counter() - began
        stack.pumps.skip_streams()  # the loaded history was applied long ago

        reads = {"items": 0, "requests": 0, "log_items": 0, "log_requests": 0}
        puts = {"calls": 0, "entries": 0}

        last_table = {"name": ""}

        def remember(params: Any, **_: Any) -> None:
            last_table["name"] = params.get("TableName", "")

        def count(model: Any, parsed: Any, **_: Any) -> None:
            name = model.name
            if name == "Query" and last_table["name"] == events_table:
                reads["log_items"] += int(parsed.get("ScannedCount", 0))
                reads["log_requests"] += 1
            elif name in ("Query", "Scan"):
                reads["items"] += int(parsed.get("Count", 0))
                reads["requests"] += 1
            elif name == "GetItem":
                reads["items"] += 1 if "Item" in parsed else 0
                reads["requests"] += 1
            elif name == "BatchGetItem":
                reads["items"] += sum(len(v) for v in parsed.get("Responses", {}).values())
                reads["requests"] += 1

        def count_puts(params: Any, **_: Any) -> None:
            puts["calls"] += 1
            puts["entries"] += len(params["Entries"])

        from nudgeloop.dal.models import CustomerModel, EngineItem, EventModel

        models = (CustomerModel, EventModel, EngineItem)
        clients = {id(c): c for c in (m._get_connection().connection.client for m in models)}
        for client in clients.values():  # hook each client once, whether or not models share one
            client.meta.events.register("after-call.dynamodb.*", count)
            client.meta.events.register("before-parameter-build.dynamodb.Query", remember)
        aws.client("events").meta.events.register("provide-client-params.events.PutEvents", count_puts)
        began = time.perf_counter()
        result = stack.call("segment_daily", stack._scheduled_event("segment_daily"))
        run_s = time.perf_counter() - began
        run_reads = dict(reads)  # the daily run's reads; the settle below is not counted
        # the migrations are saved with their history entries; the events stream's consumer
        # publishes them from there
        began = time.perf_counter()
        stack.settle()
        publish_s = time.perf_counter() - began
        scan_items = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"))
        return {
            "customers": customers,
            "due": len(due),
            "result": result,
            "items_read": run_reads["items"],
            "read_requests": run_reads["requests"],
            "log_items": run_reads["log_items"],
            "log_requests": run_reads["log_requests"],
            "full_scan_items": scan_items,
            "ratio": run_reads["items"] / scan_items,
            "put_events_calls": puts["calls"],
            "put_events_entries": puts["entries"],
            "load_s": load_s,
            "run_s": run_s,
            "publish_s": publish_s,
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.01)
    args = parser.parse_args()
    rate = classification_throughput()
    print(f"classification throughput: {rate:,.0f} customers/s (one process, default staircase, pure domain)")
    figures = daily_run_reads(args.customers, args.due_share)
    migrations = figures["result"]["migrated"]
    print(f"customers: {figures['customers']:,}, due today: {figures['due']:,} ({args.due_share:.1%}); run: {figures['result']}")
    print(
        f"daily run items read: {figures['items_read']:,} in {figures['read_requests']:,} requests; "
        f"full scan: {figures['full_scan_items']:,} items; ratio {figures['ratio']:.2%} (target <= 2%)"
    )
    print(
        f"plus the due customers' orders from the event log: {figures['log_items']:,} items "
        f"in {figures['log_requests']:,} queries (one per due customer)"
    )
    per_1000 = figures["put_events_calls"] / migrations * 1000 if migrations else float("nan")
    print(
        f"PutEvents: {figures['put_events_calls']} calls for {migrations} migrations "
        f"({figures['put_events_entries']} entries) = {per_1000:.0f} calls per 1,000 migrations (floor 100)"
    )
    print(
        f"(moto load {figures['load_s']:.1f} s, daily run {figures['run_s']:.1f} s, the stream's publication "
        f"and what it starts {figures['publish_s']:.1f} s on the emulator)"
    )


if __name__ == "__main__":
    main()
