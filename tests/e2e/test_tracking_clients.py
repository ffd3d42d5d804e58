"""Segment's and RudderStack's own Python libraries, pointed at the local stack over HTTP, drive
customers onto the staircase: their batching, their gzip (RudderStack's default; turned on for
Segment's), their HTTP Basic write key; a visitor's views before login count for the customer."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import KEY, START, get_customer

INGEST = "local-ingest-key-for-development"
pytestmark = pytest.mark.slow


@pytest.fixture
def served(stack: Any) -> Iterator[tuple[Any, str]]:
    from nudgeloop_cli.local.server import Background

    background = Background(stack, pump=False).start()
    try:
        yield stack, background.url
    finally:
        background.stop()


def _journey(client: Any, prefix: str, at: Any) -> None:
    """What a shop's backend sends: a visitor browsing, logging in, buying."""
    visitor, user = f"{prefix}-visitor", f"{prefix}-user"
    client.page(anonymous_id=visitor, name="Tea", properties={"url": "https://shop.example/tea"}, timestamp=at)
    client.track(anonymous_id=visitor, event="Product Viewed", properties={"sku": "SKU-1", "name": "Tea"}, timestamp=at)
    client.identify(
        user_id=user,
        anonymous_id=visitor,
        traits={"email": f"{user}@customers.example", "firstName": "Ada", "plan": "gold"},
        timestamp=at + timedelta(minutes=1),
    )
    client.track(
        user_id=user,
        event="Order Completed",
        properties={"order_id": f"{prefix}-o1", "total": 25, "currency": "EUR", "products": [{"sku": "SKU-1", "price": 25}]},
        timestamp=at + timedelta(minutes=2),
    )
    client.flush()


def _clients(url: str) -> list[tuple[str, Any]]:
    from rudderstack.analytics.client import Client as RudderClient
    from segment.analytics.client import Client as SegmentClient

    failures: list[Any] = []
    segment = SegmentClient(INGEST, host=f"{url}/segment", gzip=True, on_error=lambda e, b: failures.append(e), max_retries=2)
    rudder = RudderClient(INGEST, host=f"{url}/segment", on_error=lambda e, b: failures.append(e), max_retries=2)
    return [("segment", segment), ("rudder", rudder), ("failures", failures)]


def test_the_two_client_libraries_drive_customers_onto_the_staircase(served: tuple[Any, str]) -> None:
    stack, url = served
    (_, segment), (_, rudder), (_, failures) = _clients(url)
    at = START - timedelta(hours=1)
    _journey(segment, "seg", at)
    _journey(rudder, "rud", at)
    assert failures == []
    stack.settle()
    for prefix in ("seg", "rud"):
        status, customer = get_customer(stack, f"{prefix}-user")
        assert status == 200, prefix
        assert customer["segment"] == "new" and customer["aggregates"]["orders"] == 1, prefix
        assert customer["profile"]["email"] == f"{prefix}-user@customers.example" and customer["attributes"] == {"plan": "gold"}
        status, _h, body = stack.api("GET", f"/v1/customers/{prefix}-user/events", headers=KEY)
        seen = [e for e in json.loads(body)["events"] if e["type"] == "page.viewed"]
        assert len(seen) == 2, prefix  # the page and the product viewed before login, now the customer's
        assert {e.get("properties", {}).get("sku") for e in seen} == {None, "SKU-1"}


def test_the_segment_library_retries_through_a_503_until_its_new_key_is_known(served: tuple[Any, str]) -> None:
    """A write key created moments after the function listed the keys is answered 503 with
    Retry-After: the library's own retries (and its reading of Retry-After) deliver the batch."""
    from segment.analytics.client import Client as SegmentClient

    stack, url = served
    unknown = {"Authorization": "Basic " + base64.b64encode(b"no-such-key:").decode()}
    assert stack.api("POST", "/segment/v1/track", headers=unknown, body="{}")[0] == 401  # the keys are listed now
    status, _h, body = stack.api("POST", "/v1/keys", headers=KEY, body=json.dumps({"name": "tracker", "scope": "ingest"}))
    assert status == 201
    fresh = json.loads(body)["value"]
    known = {"Authorization": "Basic " + base64.b64encode(f"{fresh}:".encode()).decode()}
    assert stack.api("POST", "/segment/v1/track", headers=known, body="{}")[0] == 503  # not listed yet
    failures: list[Any] = []
    client = SegmentClient(fresh, host=f"{url}/segment", on_error=lambda e, b: failures.append(e), max_retries=6)
    client.track(user_id="retry-user", event="Order Completed", timestamp=START - timedelta(hours=1),
                 properties={"order_id": "r-1", "total": 9, "currency": "EUR"})  # fmt: skip
    client.flush()
    assert failures == []
    stack.settle()
    assert get_customer(stack, "retry-user")[1]["aggregates"]["orders"] == 1
