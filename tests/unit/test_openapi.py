"""The OpenAPI document: valid, complete, and what docs/openapi.json holds."""

from __future__ import annotations

import json
from pathlib import Path

from nudgeloop.openapi import document
from nudgeloop.resources import catalog

ROOT = Path(__file__).resolve().parents[2]


def test_document_is_valid_openapi_31() -> None:
    from openapi_spec_validator import validate

    validate(document())


def test_every_route_is_documented_and_nothing_else() -> None:
    paths = {(method.upper(), path) for path, ops in document()["paths"].items() for method in ops}
    assert paths == {(r.method, r.path) for r in catalog().routes}


def test_keyed_routes_say_so() -> None:
    doc = document()
    for route in catalog().routes:
        op = doc["paths"][route.path][route.method.lower()]
        assert ({"apiKey": []} in op.get("security", [])) == route.api_key_required, (route.method, route.path)
        if route.path.startswith("/segment/"):  # the write key: HTTP Basic, checked by the function
            assert op["security"] == [{"writeKey": []}]


def test_committed_document_is_current() -> None:
    committed = json.loads((ROOT / "docs/openapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), "run: nudgeloop openapi > docs/openapi.json"


def test_event_schema_comes_from_the_validating_models() -> None:
    schemas = document()["components"]["schemas"]
    assert set(schemas["OrderCompleted"]["required"]) == {"order_id", "total", "currency"}
    assert schemas["ConsentChanged"]["properties"]["status"]["enum"] == ["opt_in", "opt_out", "pending"]
    assert schemas["EventBatch"]["properties"]["events"]["maxItems"] == 100
