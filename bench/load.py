"""A bounded load test of the local API: concurrent shop clients (the chaos run's client, a 5xx
retried) posting batches of valid events to `POST /v1/events` of a `local serve`-like stack
(server and pump in threads) for a fixed time; then every consumer drained and every accepted
event looked for in the events table. Prints its figures (issue #20).

    .venv/bin/python bench/load.py [--seconds 30] [--clients 4] [--batch 25] [--customers 500]

Figures: requests, events accepted per second while posting, latency p50 / p99 / max of the
answers, 5xx answers, events lost (accepted and not stored), and how long the stack took to
apply what it had accepted. The machine's two cores run the server, the pump and the clients:
this measures the local runtime, not AWS (docs/benchmarks.md has the AWS model beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _events(rng: random.Random, client: int, n: int, count: int, customers: int) -> list[dict[str, Any]]:
    """``count`` valid events of a shop's day: page views, carts, orders, profiles."""
    out = []
    for k in range(count):
        customer = f"load-{rng.randrange(customers):05d}"
        at = (NOW - timedelta(minutes=rng.randrange(600))).isoformat().replace("+00:00", "Z")
        event_id = f"load-{client}-{n}-{k}"
        kind = rng.random()
        if kind < 0.6:
            event = {"type": "page.viewed", "properties": {"url": "https://shop.example/p/1", "sku": "SKU-1", "seconds": 12}}
        elif kind < 0.8:
            event = {"type": "customer.upserted", "properties": {"email": f"{customer}@customers.example"}}
        else:
            total = f"{rng.randrange(5, 200)}.00"
            items = [{"sku": "SKU-1", "category": "tea", "quantity": 1, "price": total}]
            event = {
                "type": "order.completed",
                "properties": {"order_id": event_id, "total": total, "currency": "EUR", "items": items},
            }
        out.append({"event_id": event_id, "customer_id": customer, "occurred_at": at, **event})
    return out


def run(seconds: float, clients: int, batch: int, customers: int, seed: int = 5) -> dict[str, Any]:
    from nudgeloop_cli.client import Client
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    stack = LocalStack(clock_mode="simulated", start=NOW, api_key="local-admin-key-for-development").start()
    stack.load_examples()
    background = Background(stack, free_port()).start()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    accepted: set[str] = set()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def shop(client_no: int) -> None:
        rng = random.Random(seed * 1000 + client_no)
        client = Client(background.url, stack.api_key)
        n = 0
        while time.perf_counter() < deadline:
            events = _events(rng, client_no, n, batch, customers)
            n += 1
            for _attempt in range(20):  # the chaos run's client: a 5xx is retried
                began = time.perf_counter()
                status, body = client.request("POST", "/v1/events", {"events": events})
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status < 500:
                    break
            if status == 202:
                rejected = {r["index"] for r in body.get("rejected", [])}
                with lock:
                    accepted.update(e["event_id"] for k, e in enumerate(events) if k not in rejected)

    threads = [threading.Thread(target=shop, args=(k,)) for k in range(clients)]
    began = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        posting_s = time.perf_counter() - began
        drain = time.perf_counter()
        status, _body = Client(background.url).request("POST", "/_local/settle", {}, key=False)
        assert status == 200, status
        drain_s = time.perf_counter() - drain
        from nudgeloop.dal import event_log

        with stack.aws_lock:
            stored = {e.event_id for e in event_log.all_events()}
        failures = list(stack.failures)
    finally:
        background.stop()
        stack.stop()
    ordered = sorted(latencies)
    lost = sorted(accepted - stored)
    return {
        "seconds": round(posting_s, 1),
        "clients": clients,
        "events_per_request": batch,
        "requests": len(latencies),
        "answers": dict(sorted(statuses.items())),
        "events_accepted": len(accepted),
        "events_per_second": round(len(accepted) / posting_s, 1),
        "latency_s": {
            "p50": round(statistics.median(ordered), 3),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
            "max": round(ordered[-1], 3),
        },
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "events_lost": len(lost),
        "drain_seconds": round(drain_s, 1),
        "function_failures": len(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()
    result = run(args.seconds, args.clients, args.batch, args.customers)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["events_lost"] == 0 and result["server_errors"] == 0 else 1)


if __name__ == "__main__":
    main()
