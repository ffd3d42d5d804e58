"""Journey benchmarks (issue: campaigns and journeys). Prints its figures.

    .venv/bin/python bench/journeys.py transitions [--customers 40]
    .venv/bin/python bench/journeys.py throughput [--events 500]

transitions  Runs the shipped examples on the local runtime (the deployed state machine
             definition, executed by moto) for simulated customers: a welcome series for
             ``--customers`` new customers (half order again on day 1, so the branch ends their
             journey; half get the follow-up), and win-backs for customers slipping to "at risk".
             From every execution's history it counts billed state transitions (each
             ``*StateEntered`` event is one, as Step Functions Standard bills them), Lambda
             task invocations and history events, per campaign; and the Step Functions cost per
             million entries at $0.025 per 1,000 transitions (us-east-1 list price).
throughput   SegmentMigrated events through the trigger handler (SQS batches of 10, as the
             event source mapping delivers them), each starting one journey on the local
             runtime; events per second on one core, moto included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PRICE_PER_TRANSITION = 0.025 / 1000  # USD, Step Functions Standard, us-east-1
HISTORY_LIMIT = 25_000
KEY = {"x-api-key": "local-admin-key-for-development"}


def _post(stack: Any, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 100):
        status, _h, body = stack.api("POST", "/v1/events", headers=KEY, body=json.dumps({"events": events[start : start + 100]}))
        assert status in (200, 202), body


def _history(stack: Any) -> dict[str, list[dict[str, Any]]]:
    """Per campaign, one row per execution: transitions, Lambda tasks, history events, status."""
    from nudgeloop.adapters.aws import client

    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with stack.aws_lock:
        sfn = client("stepfunctions")
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.res.state_machine_arn):
            for execution in page["executions"]:
                events = []
                for hp in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"]):
                    events += hp["events"]
                kinds = Counter(e["type"] for e in events)
                rows[execution["name"].rsplit("-", 2)[0]].append(
                    {
                        "status": execution["status"],
                        "transitions": sum(n for k, n in kinds.items() if k.endswith("StateEntered")),
                        "lambda_tasks": kinds["TaskScheduled"],
                        "history_events": len(events),
                    }
                )
    return rows


def transitions(customers: int) -> dict[str, Any]:
    from nudgeloop_cli.local.runtime import LocalStack
    from tests.conftest import consent, order, upsert

    stack = LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development").start()
    try:
        stack.load_examples()
        events: list[dict[str, Any]] = []
        for i in range(customers):
            cid = f"w{i:04d}"
            events += [upsert(cid), consent(cid), order(cid, "o1", at="2026-01-01T08:00:00Z")]
        for i in range(max(customers // 2, 1)):  # slipping to "at risk" within the run
            cid = f"r{i:04d}"
            events += [upsert(cid), consent(cid, purpose="marketing"), order(cid, "o1", at=f"2025-07-{1 + i % 28:02d}T10:00:00Z")]
        _post(stack, events)
        stack.settle()
        stack.advance(timedelta(days=1))
        _post(stack, [order(f"w{i:04d}", "o2", at="2026-01-02T08:00:00Z") for i in range(0, customers, 2)])
        stack.settle()
        stack.advance(timedelta(days=45))
        rows = _history(stack)
    finally:
        stack.stop()
    report: dict[str, Any] = {"customers": customers, "campaigns": {}}
    for campaign, runs in sorted(rows.items()):
        done = [r for r in runs if r["status"] == "SUCCEEDED"]
        per = mean(r["transitions"] for r in done) if done else 0
        report["campaigns"][campaign] = {
            "executions": len(runs),
            "succeeded": len(done),
            "transitions_per_entry_mean": round(per, 2),
            "transitions_per_entry_max": max((r["transitions"] for r in runs), default=0),
            "lambda_tasks_per_entry_mean": round(mean(r["lambda_tasks"] for r in done), 2) if done else 0,
            "history_events_max": max((r["history_events"] for r in runs), default=0),
            "usd_per_million_entries": round(per * PRICE_PER_TRANSITION * 1_000_000, 2),
        }
    report["history_limit"] = HISTORY_LIMIT
    return report


def throughput(count: int) -> dict[str, Any]:
    from nudgeloop_cli.local.runtime import LocalStack

    stack = LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development").start()
    try:
        stack.load_examples()
        records = [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"h{i}",
                "body": json.dumps(
                    {
                        "detail-type": "SegmentMigrated",
                        "source": "nudgeloop.segment",
                        "detail": {"customer_id": f"t{i:05d}", "from": "active", "to": "at_risk", "on": "2026-01-01"},
                    }
                ),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:trigger",
                "awsRegion": "eu-west-1",
            }
            for i in range(count)
        ]
        began = time.perf_counter()
        failures = 0
        for start in range(0, count, 10):
            out = stack.call("trigger_start", {"Records": records[start : start + 10]})
            failures += len(out.get("batchItemFailures", []))
        elapsed = time.perf_counter() - began
        stack.settle()
        started = sum(len(runs) for runs in _history(stack).values())
    finally:
        stack.stop()
    return {
        "events": count,
        "failures": failures,
        "journeys_started": started,
        "seconds": round(elapsed, 2),
        "events_per_second": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("transitions")
    t.add_argument("--customers", type=int, default=40)
    p = sub.add_parser("throughput")
    p.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    result = transitions(args.customers) if args.what == "transitions" else throughput(args.events)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
