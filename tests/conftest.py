"""Shared fixtures: the local runtime (moto) and helpers to build events."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
KEY = {"x-api-key": "local-admin-key-for-development"}


@pytest.fixture
def port() -> int:
    from nudgeloop_cli.local.server import free_port

    return free_port()


@pytest.fixture
def stack(port: int) -> Iterator[Any]:
    """A fresh local stack (moto) with the shipped templates and campaigns, clock at START."""
    from nudgeloop_cli.local.runtime import LocalStack

    local = LocalStack(
        clock_mode="simulated", start=START, api_key="local-admin-key-for-development", public_base_url=f"http://127.0.0.1:{port}"
    )
    local.start()
    local.load_examples()
    try:
        yield local
    finally:
        local.stop()


def post_events(stack: Any, events: list[dict[str, Any]], key: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, _headers, body = stack.api(
        "POST", "/v1/events", headers=KEY if key is None else key, body=json.dumps({"events": events})
    )
    return status, json.loads(body)


def get_customer(stack: Any, customer_id: str) -> tuple[int, dict[str, Any]]:
    status, _headers, body = stack.api("GET", f"/v1/customers/{customer_id}", headers=KEY)
    return status, json.loads(body)


def upsert(customer_id: str, at: str = "2025-12-31T08:00:00Z", **props: Any) -> dict[str, Any]:
    return {
        "event_id": f"up-{customer_id}-{at}",
        "type": "customer.upserted",
        "customer_id": customer_id,
        "occurred_at": at,
        "properties": {"email": f"{customer_id}@customers.example", "first_name": "Ada", **props},
    }


def consent(
    customer_id: str, status: str = "opt_in", at: str = "2025-12-31T08:00:00Z", purpose: str = "newsletter"
) -> dict[str, Any]:
    return {
        "event_id": f"consent-{customer_id}-{purpose}-{status}-{at}",
        "type": "consent.changed",
        "customer_id": customer_id,
        "occurred_at": at,
        "properties": {"purpose": purpose, "status": status},
    }


def order(customer_id: str, order_id: str, at: str = "2025-12-31T10:00:00Z", total: str = "25.00") -> dict[str, Any]:
    return {
        "event_id": f"ord-{customer_id}-{order_id}",
        "type": "order.completed",
        "customer_id": customer_id,
        "occurred_at": at,
        "source": "webshop",
        "properties": {
            "order_id": order_id,
            "total": total,
            "currency": "EUR",
            "items": [{"sku": "SKU-1", "name": "Tea", "quantity": 1, "price": total}],
        },
    }
