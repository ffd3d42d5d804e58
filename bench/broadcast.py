"""Broadcast orchestration: what one broadcast costs per million recipients, and how fast the
local stack sends it.

Runs a broadcast to ``--recipients`` opted-in customers on the local stack (simulated clock, no
send rate of our own) with every AWS call and handler counted (``bench/calls.py``), then prices
the orchestration per recipient at list prices (``cli/nudgeloop_cli/costs/prices.json``): Lambda
requests and duration of the broadcast and batch functions, their own DynamoDB writes (the
broadcast's record and its batches: not the ledger's, which every mail pays as a journey's does),
the selection's Athena query, and Step Functions, SQS and EventBridge (none). SES and the ledger
are counted apart, as issue #16 asks. Duration is the handlers' CPU time here, an estimate of
their billed time in AWS, where SES's answer (tens of milliseconds a mail) is waited for too:
the figure printed with it adds 50 ms a mail for that.

    .venv/bin/python bench/broadcast.py --recipients 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

EVERYONE = "id: everyone\nname: Everyone\nwhere:\n  consent: {purpose: newsletter, status: [opt_in]}\n"
SES_WAIT_S = 0.05  # per mail, what a batch waits for SES's answer in AWS (not measured here)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=2000)
    args = parser.parse_args()

    import os

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ["NUDGELOOP_SEND_WINDOW"] = ""  # any hour: the simulated clock starts at midnight
    from calls import Counts

    from nudgeloop.domain import broadcasts as rules
    from nudgeloop_cli.costs.model import load
    from nudgeloop_cli.local.runtime import LocalStack

    counts = Counts().install()
    stack = LocalStack(clock_mode="simulated", api_key="bench-admin-key-of-the-broadcast-bench").start()
    key = {"x-api-key": "bench-admin-key-of-the-broadcast-bench"}
    try:
        stack.load_examples()
        for start in range(0, args.recipients, 50):
            events = []
            for n in range(start, min(start + 50, args.recipients)):
                cid, at = f"r{n:07d}", "2025-12-01T08:00:00Z"
                profile = {"email": f"{cid}@customers.example"}
                statement = {"purpose": "newsletter", "status": "opt_in", "source": "bench"}
                events.append(
                    {
                        "event_id": f"u-{cid}",
                        "type": "customer.upserted",
                        "customer_id": cid,
                        "occurred_at": at,
                        "properties": profile,
                    }
                )
                events.append(
                    {
                        "event_id": f"c-{cid}",
                        "type": "consent.changed",
                        "customer_id": cid,
                        "occurred_at": at,
                        "properties": statement,
                    }
                )
            status, _h, body = stack.api("POST", "/v1/events", headers=key, body=json.dumps({"events": events}))
            assert status == 202, body
        stack.settle()
        assert stack.api("PUT", "/v1/audiences/everyone", headers=key, body=EVERYONE)[0] == 200
        stack.advance(timedelta(minutes=5))  # the audience snapshot
        before_calls, before_cpu = counts.calls.copy(), dict(counts.cpu)
        before_inv = counts.invocations.copy()
        began = time.monotonic()
        body = json.dumps({"broadcast_id": "bench", "audience_id": "everyone", "template": "newsletter"})
        status, _h, answer = stack.api("POST", "/v1/broadcasts", headers=key, body=body)
        assert status == 202, answer
        stack.settle()
        elapsed = time.monotonic() - began
        status, _h, raw = stack.api("GET", "/v1/broadcasts/bench", headers=key)
        found = json.loads(raw)
    finally:
        stack.stop()
    assert found["status"] == "done", found
    sent = int(found["progress"].get("sent", 0))
    assert sent == args.recipients, found
    functions = ("broadcast", "broadcast_send")
    invocations = {f: counts.invocations[f] - before_inv[f] for f in functions}
    cpu = {f: counts.cpu.get(f, 0.0) - before_cpu.get(f, 0.0) for f in functions}
    calls = counts.calls - before_calls
    # the broadcast function writes only the broadcast (its record, index, batches); the batch
    # function writes its batch once (done, or parked again), the rest is the send path's
    own_writes = invocations["broadcast_send"] + sum(
        n
        for (caller, service, op, _t, _i), n in calls.items()
        if caller == "broadcast" and service == "dynamodb" and op in ("PutItem", "UpdateItem", "DeleteItem")
    )
    ledger_writes = (
        sum(
            n
            for (caller, service, op, _t, _i), n in calls.items()
            if caller == "broadcast_send" and service == "dynamodb" and op in ("PutItem", "UpdateItem", "TransactWriteItems")
        )
        - invocations["broadcast_send"]
    )
    prices = load("prices.json")["prices"]
    from nudgeloop.resources import catalog

    memory = {f: catalog("nudgeloop").function(f).memory_mb / 1024 for f in functions}
    per = 1_000_000 / sent
    athena = prices["athena_minimum_mb_per_query"] / 1024**2 * prices["athena_per_tb_scanned"]
    lines = {
        "Lambda requests": sum(invocations.values()) * per * prices["lambda_per_million_requests"] / 1e6,
        "Lambda duration (CPU here)": sum(cpu[f] * memory[f] for f in functions) * per * prices["lambda_arm64_per_gb_second"],
        "Lambda duration (waiting for SES, 50 ms a mail)": SES_WAIT_S * memory["broadcast_send"] * 1e6
        * prices["lambda_arm64_per_gb_second"],
        "DynamoDB (the broadcast's own writes)": own_writes * per * prices["dynamodb_per_million_write_units"] / 1e6,
        "Athena (the selection: one query, at least 10 MB)": athena,
        "Step Functions, SQS, EventBridge": 0.0,
    }  # fmt: skip
    print(f"broadcast to {sent} recipients in {elapsed:.1f} s on the local stack: {sent / elapsed:.0f} recipients/s")
    print(f"invocations: {invocations} ({rules.BATCH} recipients a batch); handler CPU s: {cpu}")
    print(f"DynamoDB writes: the broadcast's own {own_writes}, the send path's (ledger, counters) {ledger_writes}, apart")
    print("orchestration per million recipients (list prices):")
    for name, usd in lines.items():
        print(f"  {name:52s} ${usd:8.4f}")
    print(f"  {'total':52s} ${sum(lines.values()):8.4f}  (budget: $5.00)")


if __name__ == "__main__":
    main()
