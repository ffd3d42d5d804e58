"""Response-management benchmarks (issue: response management). Prints its figures.

    .venv/bin/python bench/ingest.py wcu [--customers 500] [--orders 2000]
    .venv/bin/python bench/ingest.py cpu [--events 2000]
    .venv/bin/python bench/ingest.py imports
    .venv/bin/python bench/ingest.py http [--events 10000]
    .venv/bin/python bench/ingest.py profile --events 1500

wcu      DynamoDB write units per ingested ``order.completed`` (HTTP API -> store once -> stream ->
         aggregates and staircase), counted from every write request our code makes with the
         meter in bench/wcu.py; per table, with the floor, and the largest BatchWriteItem.
cpu      The ingest API handler's CPU time per event, with moto's own time taken out.
imports  Cold-start import time of the ingest handler (python -X importtime) and whether it
         pulls in anything of the send path (Jinja2, the SES client).
http     Throughput of the local HTTP path for N events (batches of 100, one client: server, API
         Gateway emulation, handler, store-once writes) as a ratio to writing the same items
         straight into a table with BatchWriteItem; then the time the stream consumers take to
         process them.
profile  Where the local processing time goes (cProfile around settling N posted events).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KEY = {"x-api-key": "local-admin-key-for-development"}


def _stack() -> Any:
    from nudgeloop_cli.local.runtime import LocalStack

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    return LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development").start()


def _order(customer: str, n: int, at: datetime, rng: random.Random) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"sku": f"SKU-{rng.randint(1, 300)}", "name": "Tea", "category": "tea", "quantity": rng.randint(1, 3), "price": "4.50"}
        for _ in range(rng.choice([1, 1, 2, 3]))
    ]
    total = sum(4.5 * i["quantity"] for i in items)
    return {
        "event_id": f"ord-{customer}-{n}",
        "type": "order.completed",
        "customer_id": customer,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "source": "webshop",
        "properties": {
            "order_id": f"o-{customer}-{n}",
            "total": f"{total:.2f}",
            "currency": "EUR",
            "channel": "webshop",
            "items": items,
        },
    }


def _post(stack: Any, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 100):
        status, _h, body = stack.api("POST", "/v1/events", headers=KEY, body=json.dumps({"events": events[i : i + 100]}))
        assert status == 202, body


def _population(customers: int, rng: random.Random) -> tuple[list[str], list[float], list[dict[str, Any]]]:
    """Known customers with a personal purchase rate (a Gamma mixture, as in BG/NBD) and two
    years of orders drawn from it: a few frequent buyers, many occasional ones."""
    ids = [f"b{i:05d}" for i in range(customers)]
    rates = [rng.gammavariate(0.6, 4.0) for _ in ids]  # orders per year; mean 2.4
    history = []
    for c, rate in zip(ids, rates, strict=True):
        t, n = 730.0, 0
        while True:
            t -= rng.expovariate(rate / 365) if rate > 0 else 1e9
            if t <= 1:
                break
            history.append(_order(c, n, START - timedelta(days=t), rng))
            n += 1
    return ids, rates, history


def wcu(customers: int, orders: int, seed: int = 3) -> dict[str, Any]:
    """Write units per order.completed, counted from our requests, in three streams of orders."""
    from wcu import WriteMeter

    sys.path.insert(0, str(ROOT / "bench"))
    rng = random.Random(seed)
    stack = _stack()  # no campaigns loaded: journeys (the campaign engine's writes) stay out
    meter = WriteMeter()
    out: dict[str, Any] = {}
    try:
        ids, rates, history = _population(customers, rng)
        profiles = [
            {
                "event_id": f"up-{c}",
                "type": "customer.upserted",
                "customer_id": c,
                "occurred_at": "2024-01-01T00:00:00Z",
                "properties": {"email": f"{c}@customers.example", "first_name": "Ada", "locale": "en"},
            }
            for c in ids
        ]
        _post(stack, profiles + history)
        stack.settle()
        steady = [c for c in ids if _segment(c) in ("active", "vip")]

        def steady_order(k: int) -> dict[str, Any]:
            return _order(rng.choice(steady), 20_000 + k, START - timedelta(minutes=k), rng)

        def first_order(k: int) -> dict[str, Any]:
            return _order(f"n{k:06d}", 0, START - timedelta(minutes=k), rng)

        def by_rate(k: int) -> dict[str, Any]:  # who orders next: in proportion to their rate
            return _order(rng.choices(ids, weights=rates)[0], 10_000 + k, START - timedelta(minutes=k), rng)

        scenarios = (
            ("active and VIP customers ordering again", steady_order),
            ("a shop's order stream (known customers, who orders in proportion to their rate)", by_rate),
            ("first orders of new customers", first_order),
        )
        with meter.installed():
            for name, make in scenarios:
                meter.reset()
                migrations_before = _migrations(stack)
                _post(stack, [make(k) for k in range(orders)])
                stack.settle()
                out[name] = {
                    "wcu_per_order": round(meter.total() / orders, 3),
                    "orders_that_moved_a_customer": round((_migrations(stack) - migrations_before) / orders, 3),
                    "by_table": {k: round(v / orders, 3) for k, v in sorted(meter.units.items())},
                    "requests_per_order": {k: round(v / orders, 3) for k, v in sorted(meter.requests.items())},
                    "largest_batch_write": meter.largest_batch,
                }
    finally:
        stack.stop()
    out["floor"] = "1.0: the event itself (one item under 1 KB, stored once); aggregates cost no write"
    return out


def _segment(customer_id: str) -> str | None:
    from nudgeloop.dal import customer_store

    found = customer_store.get_customer(customer_id)
    return found.step if found else None


def _migrations(stack: Any) -> int:
    from nudgeloop.dal import step_tallies

    with stack.aws_lock:
        return sum(sum(v.values()) if isinstance(v, dict) else 0 for v in [step_tallies.segment_flows(START.date())])


def _events(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    kinds = ["page.viewed"] * 6 + ["cart.updated"] * 2 + ["order.completed", "customer.upserted"]
    out = []
    for k in range(n):
        c = f"h{rng.randint(0, n // 10):06d}"
        at = (START - timedelta(minutes=k)).isoformat().replace("+00:00", "Z")
        kind = rng.choice(kinds)
        if kind == "order.completed":
            out.append({**_order(c, k, START - timedelta(minutes=k), rng), "event_id": f"e{k}"})
            continue
        by_kind: dict[str, dict[str, Any]] = {
            "page.viewed": {"url": f"https://shop.example/p/{k % 300}", "sku": f"SKU-{k % 300}", "seconds": 30},
            "cart.updated": {"cart_id": f"k{c}", "items": [{"sku": f"SKU-{k % 300}", "quantity": 1, "price": "4.50"}]},
            "customer.upserted": {"email": f"{c}@customers.example", "first_name": "Ada"},
        }
        props = by_kind[kind]
        out.append({"event_id": f"e{k}", "type": kind, "customer_id": c, "occurred_at": at, "properties": props})
    return out


def cpu(events: int) -> dict[str, Any]:
    """CPU seconds the ingest API handler spends per event, moto's own time taken out."""
    from moto.core.botocore_stubber import BotocoreStubber

    stack = _stack()
    spent = {"moto": 0.0}
    original = BotocoreStubber.__call__

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        # the CPU of the thread serving this request (the handler's store-once puts run in a
        # thread pool: process-wide time would count the other workers' CPU too)
        began = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent["moto"] += time.thread_time() - began

    batch = _events(events)
    try:
        BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
        began = time.process_time()
        for i in range(0, len(batch), 100):
            status, _h, body = stack.api("POST", "/v1/events", headers=KEY, body=json.dumps({"events": batch[i : i + 100]}))
            assert status == 202, body
        total = time.process_time() - began
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]
        stack.stop()
    ours = total - spent["moto"]
    return {
        "events": events,
        "cpu_ms_per_event_handler": round(1000 * ours / events, 3),
        "cpu_ms_per_event_moto": round(1000 * spent["moto"] / events, 3),
        "note": "handler = validation, store-once puts (botocore serialisation included), response; batches of 100",
    }


def imports() -> dict[str, Any]:
    """Cold-start import time of the ingest handler, and what it imports (python -X importtime)."""
    code = (
        "import os, sys; sys.path[:0] = ['functions/ingest']; "
        "os.environ.update(NL_CUSTOMERS_TABLE='c', NL_EVENTS_TABLE='e', NL_SIGNING_SECRET_NAME='s', "
        "NL_WEBHOOK_SECRET_NAME='w', AWS_DEFAULT_REGION='eu-west-1'); import api"
    )
    runs = []
    modules: set[str] = set()
    for _ in range(5):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        total = 0
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _self, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if cumulative.isdigit() and not name.startswith(" "):
                modules.add(name.strip())
            if name == "api":
                total = int(cumulative)
        runs.append(total / 1000)
    send_roots = ("jinja2", "markupsafe", "yaml")
    send_path = sorted(m for m in modules if m.split(".")[0] in send_roots or m.startswith("nudgeloop.services.sender"))
    return {
        "import_ms_median": sorted(runs)[len(runs) // 2],
        "import_ms_runs": runs,
        "send_path_modules_imported": send_path,
    }


def http(events: int) -> dict[str, Any]:
    """The local HTTP path (real sockets, API emulation, handler, moto) against BatchWriteItem."""
    import urllib.request

    from baseline import batch_write_seconds

    from nudgeloop_cli.local.server import Background, free_port

    stack = _stack()
    port = free_port()
    background = Background(stack, port, pump=False).start()  # the request path alone; processing after
    batch = _events(events)
    try:
        began = time.perf_counter()
        for i in range(0, len(batch), 100):
            req = urllib.request.Request(  # noqa: S310 - loopback
                f"{background.url}/v1/events", data=json.dumps({"events": batch[i : i + 100]}).encode(), method="POST"
            )
            req.add_header("x-api-key", "local-admin-key-for-development")
            req.add_header("content-type", "application/json")
            with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
                assert resp.status == 202
        via_http = time.perf_counter() - began
        began = time.perf_counter()
        stack.settle()  # what the stream consumers then do with them (processing, archive)
        processing = time.perf_counter() - began
        direct = batch_write_seconds(stack, batch)
    finally:
        background.stop()
        stack.stop()
    return {
        "events": events,
        "http_seconds": round(via_http, 2),
        "http_events_per_second": round(events / via_http),
        "batch_write_seconds": round(direct, 2),
        "batch_write_items_per_second": round(events / direct),
        "ratio_http_to_batch_write": round(via_http / direct, 2),
        "processing_seconds_afterwards": round(processing, 2),
        "processing_events_per_second": round(events / processing),
    }


def profile(events: int) -> dict[str, Any]:
    """Where local processing time goes: cProfile around settling N posted events."""
    import cProfile
    import pstats

    stack = _stack()
    try:
        _post(stack, _events(events))
        profiler = cProfile.Profile()
        profiler.enable()
        stack.settle()
        profiler.disable()
    finally:
        stack.stop()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tottime for (_cc, _nc, tottime, _ct, _callers) in stats.values())
    query = sum(
        ct
        for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items()
        if name == "query" and path.endswith("moto/dynamodb/models/table.py")
    )
    return {"events": events, "settle_seconds": round(total, 1), "in_moto_table_query_seconds": round(query, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["wcu", "cpu", "imports", "http", "profile"])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    if args.what == "wcu":
        result = wcu(args.customers, args.orders)
    elif args.what == "cpu":
        result = cpu(min(args.events, 5000))
    elif args.what == "imports":
        result = imports()
    elif args.what == "profile":
        result = profile(args.events)
    else:
        result = http(args.events)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
