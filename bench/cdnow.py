"""Real data through the local stack: the CDNOW sample over the HTTP API. Prints its figures.

    .venv/bin/python bench/cdnow.py [--customers N] [--profile FILE] [--calls]

The CDNOW sample (2,357 customers who first bought in the first quarter of 1997, their 6,919
orders up to June 1998; the data the `lifetimes` package ships and the BG/NBD papers use) is
posted to ``POST /v1/events`` of a ``nudgeloop local serve`` stack (the server and its pump in
threads, as the command runs them) in batches of 100: one ``customer.upserted`` per customer,
then the orders in time order. The clock stands at 1998-07-01. The figure is the wall time from
the first POST until every stream consumer is done (staircase placed, archive written), as a
ratio to writing the same number of items into one table with BatchWriteItem in the same run.

Then the checks a marketer would make of the result, through the local HTTP API:
- the staircase holds every customer, each on one step;
- the CLV fit on the calibration period (39 weeks to 1997-09-30, in weeks) reproduces the
  published BG/NBD estimates (Fader, Hardie and Lee 2005: r 0.243, alpha 4.414, a 0.793,
  b 2.426) within the tolerance of day-resolution input.

``--customers N`` takes the first N customers (a quicker look); ``--profile FILE`` writes a
cProfile of the whole run (every thread's calls land in the pump's and server's threads, so the
profile is of the pump thread, where the processing runs); ``--calls`` prints every AWS call by
function, service, operation and table, per event, and each handler's CPU time (the counting
slows the run: its timings are not the benchmark's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from baseline import batch_write_seconds
from calls import Counts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOW = datetime(1998, 7, 1, 9, 0, tzinfo=UTC)
KEY = "local-admin-key-for-development"
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def sample() -> list[tuple[str, date, int, Decimal]]:
    """(customer, day, CDs, dollars) rows of CDNOW_sample.txt, as the lifetimes package ships it."""
    spec = find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, "the lifetimes package (test oracle) is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_sample.txt"
    rows = []
    for line in path.read_text().splitlines():
        customer, _master, day, cds, dollars = line.split()
        rows.append((customer, datetime.strptime(day, "%Y%m%d").date(), int(cds), Decimal(dollars)))
    return rows


def events(rows: list[tuple[str, date, int, Decimal]], customers: int | None) -> list[dict[str, Any]]:
    ids = sorted({r[0] for r in rows})[:customers]
    keep = set(ids)
    first_order: dict[str, date] = {}
    for customer, day, _cds, _dollars in rows:
        first_order.setdefault(customer, day)
    out: list[dict[str, Any]] = [
        {
            "event_id": f"cdnow-profile-{c}",
            "type": "customer.upserted",
            "customer_id": f"cdnow-{c}",
            "occurred_at": f"{first_order[c].isoformat()}T00:00:00Z",
            "source": "import",
            "properties": {"email": f"customer{c}@example.com", "country": "US"},
        }
        for c in ids
    ]
    orders = sorted((r for r in rows if r[0] in keep), key=lambda r: (r[1], r[0]))
    for n, (customer, day, cds, dollars) in enumerate(orders):
        unit_price = (dollars / max(cds, 1)).quantize(Decimal("0.0001"))
        out.append(
            {
                "event_id": f"cdnow-order-{n}",
                "type": "order.completed",
                "customer_id": f"cdnow-{customer}",
                "occurred_at": f"{day.isoformat()}T12:00:00Z",
                "source": "webshop",
                "properties": {
                    "order_id": f"cdnow-{n}",
                    "total": str(dollars),
                    "currency": "USD",
                    "items": [
                        {
                            "sku": "CD",
                            "category": "music",
                            "quantity": max(cds, 1),
                            "price": str(unit_price),
                        }
                    ],
                },
            }
        )
    return out


def _request(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    req.add_header("x-api-key", KEY)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310
        return resp.status, json.loads(resp.read() or b"null")


def run(customers: int | None, profile: str | None) -> dict[str, Any]:
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    batch = events(sample(), customers)
    stack = LocalStack(clock_mode="simulated", start=NOW, api_key=KEY).start()
    profiler = None
    if profile:
        import cProfile
        import threading

        profiler = cProfile.Profile()
        original = Background._pump

        def profiled(self: Any) -> None:
            assert profiler is not None
            profiler.enable()
            try:
                original(self)
            finally:
                profiler.disable()

        Background._pump = profiled  # type: ignore[method-assign]
        assert threading  # the pump thread is the one profiled
    background = Background(stack, free_port()).start()
    try:
        began = time.perf_counter()
        posting = 0.0
        for i in range(0, len(batch), 100):
            t = time.perf_counter()
            status, body = _request(f"{background.url}/v1/events", "POST", {"events": batch[i : i + 100]})
            posting = max(posting, time.perf_counter() - t)
            assert status == 202 and not body.get("rejected"), body
        posted = time.perf_counter() - began
        status, _ = _request(f"{background.url}/_local/settle", "POST", {})
        assert status == 200
        processed = time.perf_counter() - began
        _status, staircase = _request(f"{background.url}/_local/staircase")
        began_fit = time.perf_counter()
        _status, fit = _request(f"{background.url}/_local/clv/fit", "POST", {"until": "1997-10-01", "unit": "weeks"})
        fit_s = time.perf_counter() - began_fit
        _status, dlqs = _request(f"{background.url}/_local/dlq")
        failures = list(stack.failures)
    finally:
        background.stop()
        direct = batch_write_seconds(stack, batch)
        stack.stop()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    counts = staircase["counts"]
    placed = sum(counts.values())
    expected_customers = len({e["customer_id"] for e in batch})
    bgnbd = fit["bgnbd"]
    deviation = {k: round(abs(bgnbd[k] - v) / v, 3) for k, v in PUBLISHED.items()}
    return {
        "events": len(batch),
        "customers": expected_customers,
        "posted_seconds": round(posted, 1),
        "slowest_post_seconds": round(posting, 2),
        "processed_seconds": round(processed, 1),
        "batch_write_seconds": round(direct, 2),
        "ratio_processed_to_batch_write": round(processed / direct, 1),
        "staircase": counts,
        "staircase_placed_every_customer": placed == expected_customers,
        "clv_fit_seconds": round(fit_s, 1),
        "bgnbd": {k: round(bgnbd[k], 3) for k in PUBLISHED},
        "bgnbd_relative_deviation_from_published": deviation,
        "dlq_depths": {k: v for k, v in dlqs.items() if v},
        "failures": failures[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--calls", action="store_true")
    args = parser.parse_args()
    counts = Counts().install() if args.calls else None
    result = run(args.customers, args.profile)
    print(json.dumps(result, indent=2))
    if counts is not None:
        print(counts.report(40, per=("event", result["events"])))


if __name__ == "__main__":
    main()
