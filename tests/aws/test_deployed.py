"""Real-AWS end-to-end check of a deployed stack. Skipped unless explicitly enabled:

    NUDGELOOP_AWS_E2E=1 NUDGELOOP_API_URL=https://.../prod NUDGELOOP_API_KEY=... make test

It posts a customer and an order and waits for the customer to reach `new`. It sends no mail
(no consent is given), so it is safe against a production stack.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import pytest

from nudgeloop_cli.client import Client

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(os.environ.get("NUDGELOOP_AWS_E2E") != "1", reason="real-AWS test: set NUDGELOOP_AWS_E2E=1 to run"),
]


def test_order_moves_a_customer_to_new_on_aws() -> None:
    client = Client(os.environ["NUDGELOOP_API_URL"], os.environ["NUDGELOOP_API_KEY"])
    customer_id = f"e2e-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC).isoformat()
    status, body = client.request(
        "POST",
        "/v1/events",
        {
            "events": [
                {
                    "type": "customer.upserted",
                    "customer_id": customer_id,
                    "occurred_at": now,
                    "properties": {"first_name": "E2E"},
                },
                {
                    "type": "order.completed",
                    "customer_id": customer_id,
                    "occurred_at": now,
                    "properties": {"order_id": "e2e-1", "total": "1.00", "currency": "EUR"},
                },
            ]
        },
    )
    assert (status, body["accepted"]) == (202, 2)
    deadline = time.monotonic() + 60
    segment = None
    while time.monotonic() < deadline and segment != "new":
        time.sleep(2)
        status, customer = client.request("GET", f"/v1/customers/{customer_id}")
        segment = customer.get("segment") if status == 200 else None
    assert segment == "new"
