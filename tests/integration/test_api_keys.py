"""Scoped API keys on the local stack (docs/api.md, "Keys and scopes"): every keyed route called
with a key of each scope; keys created, used, listed and revoked through the API, with the API
function's role enforced (API Gateway's management calls included)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEY, upsert

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "ingest": {"x-api-key": "local-ingest-key-for-development"},
    "read": {"x-api-key": "local-read-key-for-development"},
    "admin": KEY,
}


def _call(stack: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body = "{}" if method in ("POST", "PUT") else None
    status, _, text = stack.api(method, re.sub(r"\{\w+\}", "x1", path), headers=headers, body=body)
    try:
        return status, json.loads(text or "{}")
    except ValueError:
        return status, {}


def test_every_keyed_route_admits_exactly_the_scopes_the_catalog_names(stack: Any) -> None:
    from nudgeloop.domain import access

    keyed = [r for r in stack.catalog.routes if r.api_key_required]
    assert len(keyed) >= 25
    for route in keyed:
        for scope, headers in KEYS.items():
            status, answer = _call(stack, route.method, route.path, headers)
            refused = status == 403 and "needs" in answer
            assert refused == (scope not in access.admitted(route.scopes)), (route.method, route.path, scope, status, answer)
            if refused:
                assert answer["needs"] == list(access.admitted(route.scopes))
                assert f"this key's scope is '{scope}'" in answer["error"]["reason"]
                assert answer["error"]["field"] == "x-api-key"


def test_a_key_is_created_used_within_its_scope_listed_without_its_value_and_revoked(stack: Any) -> None:
    status, _, text = stack.api("POST", "/v1/keys", headers=KEY, body=json.dumps({"name": "webshop", "scope": "ingest"}))
    assert status == 201, text
    created = json.loads(text)
    assert (created["name"], created["scope"], created["enabled"]) == ("webshop", "ingest", True)
    webshop = {"x-api-key": created["value"]}
    assert stack.api("POST", "/v1/events", headers=webshop, body=json.dumps({"events": [upsert("k1")]}))[0] == 202
    status, _, text = stack.api("GET", "/v1/customers/k1", headers=webshop)
    assert status == 403 and json.loads(text)["needs"] == ["read", "admin"]
    status, _, text = stack.api("GET", "/v1/keys", headers=KEY)
    listed = json.loads(text)["keys"]
    assert {(k["name"], k["scope"]) for k in listed} == {
        ("local-admin", "admin"),
        ("local-ingest", "ingest"),
        ("local-read", "read"),
        ("webshop", "ingest"),
    }
    assert created["value"] not in text and all("value" not in k for k in listed)
    status, _, text = stack.api("DELETE", f"/v1/keys/{created['key_id']}", headers=KEY)
    assert status == 200 and json.loads(text)["revoked"] is True
    # API Gateway refuses the revoked key at once; the others go on
    assert stack.api("POST", "/v1/events", headers=webshop, body=json.dumps({"events": [upsert("k2")]}))[:1] == (403,)
    assert stack.api("POST", "/v1/events", headers=KEYS["ingest"], body=json.dumps({"events": [upsert("k2")]}))[0] == 202
    assert stack.api("DELETE", f"/v1/keys/{created['key_id']}", headers=KEY)[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "webshop", "scope": "owner"}, "scope"),
        ({"name": "Web Shop", "scope": "read"}, "name"),
        ({"scope": "read"}, "name"),
        ({"name": "webshop", "scope": "read", "expires": 3}, "expires"),
    ],
)
def test_a_wrong_key_request_is_refused_naming_its_field(stack: Any, body: dict[str, Any], field: str) -> None:
    status, _, text = stack.api("POST", "/v1/keys", headers=KEY, body=json.dumps(body))
    assert status == 400 and json.loads(text)["error"]["field"] == field, text


def test_a_key_cannot_revoke_itself_nor_a_key_of_another_stack(stack: Any) -> None:
    from nudgeloop.adapters.aws import client
    from nudgeloop.domain import access

    keys = json.loads(stack.api("GET", "/v1/keys", headers=KEY)[2])["keys"]
    admin = next(k for k in keys if k["name"] == "local-admin")
    status, _, text = stack.api("DELETE", f"/v1/keys/{admin['key_id']}", headers=KEY)
    assert status == 409 and json.loads(text)["error"]["field"] == "key_id"
    with stack.aws_lock:
        other = client("apigateway").create_api_key(
            name="other-admin", enabled=True, tags={access.SCOPE_TAG: "admin", access.STACK_TAG: "another-stack"}
        )
    assert other["id"] not in stack.api("GET", "/v1/keys", headers=KEY)[2]
    assert stack.api("DELETE", f"/v1/keys/{other['id']}", headers=KEY)[0] == 404


def test_the_scope_table_in_the_docs_is_the_catalogs() -> None:
    from nudgeloop.domain.access import scope_table
    from nudgeloop.resources import catalog

    assert scope_table(catalog().routes) in (ROOT / "docs/api.md").read_text(), "run: nudgeloop keys scopes"
