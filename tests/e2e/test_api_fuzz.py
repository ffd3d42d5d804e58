"""Property-based checks of the HTTP API against its own OpenAPI document (schemathesis):
whatever a client sends, the answer is never a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from nudgeloop.openapi import document

# The audience definition's schema (recursive, 18 kinds of condition) makes the coverage phase
# enumerate tens of thousands of bodies for PUT /v1/audiences/{id}: that operation is fuzzed only
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {"include-path": "/v1/audiences/{audience_id}", "include-method": "PUT", "phases": {"coverage": {"enabled": False}}}
        ]
    }
)
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    port = free_port()
    stack = LocalStack(public_base_url=f"http://127.0.0.1:{port}").start()
    background = Background(stack, port).start()
    try:
        yield background.url
    finally:
        background.stop()
        stack.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: Any, base_url: str) -> None:
    response = case.call(base_url=base_url, headers={"x-api-key": "local-admin-key-for-development"})
    case.validate_response(response, checks=(not_a_server_error,))


EVENT = '{"type": "custom.x", "customer_id": "c1", "occurred_at": %s, "properties": %s}'
HOSTILE = [
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ('"2025-12-31T08:00:00Z"', '{"n": ' + "9" * 5000 + "}") + "]}"),
    ("POST", "/v1/events", {}, '{"events": ' + "[" * 20_000 + "]" * 20_000 + "}"),
    (
        "POST",
        "/v1/events",
        {},
        '{"events": [' + EVENT % ('"2025-12-31T08:00:00Z"', '{"n": ' + "{" * 3000 + "}" * 3000 + "}") + "]}",
    ),
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ('"0001-01-01T00:30:00+01:00"', "{}") + "]}"),
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ('"9999-12-31T23:59:59-23:59"', "{}") + "]}"),
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ('"2025-12-31T08:00:00Z"', '{"n": NaN, "m": Infinity}') + "]}"),
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ("1e999", "{}") + "]}"),
    ("POST", "/v1/events", {}, '{"events": [' + EVENT % ('"2025-12-31T08:00:00Z"', '"\\ud800"') + "]}"),
    ("PUT", "/v1/customers/c1", {}, '{"birthday": "0001-01-01", "attributes": {"k": ' + "1" * 4400 + "}}"),
    ("GET", "/v1/customers/c1/events?limit=%C2%B2", {}, None),
    ("GET", "/v1/customers/c1/events?limit=" + "9" * 5000, {}, None),
    ("GET", "/v1/customers/c1/events?cursor=%FF%FE", {}, None),
    ("GET", "/v1/analytics/staircase?from=0001-01-01&to=9999-12-31", {}, None),
    ("POST", "/v1/webhooks/shopify", {"X-Shopify-Hmac-Sha256": "\u00e9\u00e9\u00e9=", "X-Shopify-Topic": "orders/create"}, "{}"),
    ("POST", "/v1/webhooks/shopify", {"X-Shopify-Hmac-Sha256": "=" * 10_000, "X-Shopify-Topic": "\u2603"}, "[]"),
    ("POST", "/v1/unsubscribe?token=%C3%A9" + "a" * 3000, {}, None),
    ("GET", "/v1/consent/confirm?token=\u2603.\u2603", {}, None),
    # a 970 KB definition, refused by field in about 2 s (libyaml; the pure-Python parser took 14 s)
    (
        "PUT",
        "/v1/audiences/big",
        {},
        '{"id": "big", "name": "b", "where": {"any_of": [' + ", ".join(['{"step": {"in": ["new"]}}'] * 36_000) + "]}}",
    ),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), HOSTILE, ids=[f"{m} {p[:40]}" for m, p, _h, _b in HOSTILE])
def test_hostile_input_is_a_client_error_naming_the_field(
    method: str, path: str, headers: dict[str, str], body: str | None, base_url: str
) -> None:
    import requests

    sent = {k: v.encode() if not v.isascii() else v for k, v in headers.items()}
    response = requests.request(
        method,
        base_url + path,
        headers={"x-api-key": "local-admin-key-for-development", **sent},
        data=body.encode() if body else None,
        timeout=60,
    )
    if response.status_code == 202:  # a batch: each bad event refused on its own, by field, nothing stored
        answer = response.json()
        assert answer["accepted"] == 0 and all(r["field"].startswith("events[") for r in answer["rejected"]), answer
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json()["error"]["field"], response.text[:300]
