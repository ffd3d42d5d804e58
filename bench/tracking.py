"""The Segment-compatible tracking route's benchmark (issue #19). Prints its figures.

    .venv/bin/python bench/tracking.py [--customers 200] [--views 20]

The route (/segment/v1/batch, gzip, over HTTP) as a shop's tracker uses it: customers each view
N pages as anonymous visitors, then log in (identify with both ids) and order. Messages per
second of the request path, the processing afterwards (the links copying the visitors' events
to the customers), and DynamoDB write units per message by table (the meter in bench/wcu.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402 - the response-management bench's stack and helpers


def tracking(customers: int, views: int) -> dict[str, Any]:
    """Visitors browsing, then logging in and ordering, through the tracking route over HTTP."""
    import base64
    import gzip
    import urllib.request

    from wcu import WriteMeter

    from nudgeloop_cli.local.server import Background, free_port

    stack = ingest._stack()
    background = Background(stack, free_port(), pump=False).start()
    meter = WriteMeter()
    at = (ingest.START - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    messages: list[dict[str, Any]] = []
    for c in range(customers):
        visitor, user = f"v-{c:05d}", f"u-{c:05d}"
        messages += [
            {"type": "page", "messageId": f"p-{c}-{n}", "anonymousId": visitor, "timestamp": at,
             "properties": {"url": f"https://shop.example/p/{n}"}}
            for n in range(views)
        ]  # fmt: skip
        messages.append({"type": "identify", "messageId": f"i-{c}", "userId": user, "anonymousId": visitor, "timestamp": at,
                         "traits": {"email": f"{user}@customers.example", "firstName": "Ada"}})  # fmt: skip
        messages.append({"type": "track", "messageId": f"o-{c}", "userId": user, "event": "Order Completed", "timestamp": at,
                         "properties": {"order_id": f"o-{c}", "total": 20, "currency": "EUR"}})  # fmt: skip
    auth = "Basic " + base64.b64encode(b"local-ingest-key-for-development:").decode()
    try:
        with meter.installed():
            began = time.perf_counter()
            for i in range(0, len(messages), 100):
                body = gzip.compress(json.dumps({"batch": messages[i : i + 100]}).encode())
                req = urllib.request.Request(f"{background.url}/segment/v1/batch", data=body, method="POST")  # noqa: S310
                for name, value in (("authorization", auth), ("content-type", "application/json"), ("content-encoding", "gzip")):
                    req.add_header(name, value)
                with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 - loopback
                    assert json.loads(resp.read())["skipped"] == []
            via_http = time.perf_counter() - began
            began = time.perf_counter()
            stack.settle()
            processing = time.perf_counter() - began
        new = sum(1 for c in range(customers) if ingest._segment(f"u-{c:05d}") == "new")
    finally:
        background.stop()
        stack.stop()
    n = len(messages)
    return {
        "customers": customers,
        "messages": n,
        "http_seconds": round(via_http, 2),
        "http_messages_per_second": round(n / via_http),
        "processing_seconds_afterwards": round(processing, 2),
        "customers_on_the_staircase": new,
        "wcu_per_message": round(meter.total() / n, 3),
        "wcu_by_table_per_message": {k: round(v / n, 3) for k, v in sorted(meter.units.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--views", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(tracking(args.customers, args.views), indent=2))


if __name__ == "__main__":
    main()
