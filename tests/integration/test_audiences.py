"""Audiences on the running local stack: events in through the API, the audience tables
snapshotted from what was stored, the embedded engine answering a preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import consent, post_events, upsert

ROOT = Path(__file__).resolve().parents[2]


def _preview(stack: Any, text: str, limit: int = 20) -> tuple[int, dict[str, Any]]:
    from nudgeloop_cli.local.server import control

    status, _headers, body = control(stack, "POST", "/_local/audiences/preview", json.dumps({"audience": text, "limit": limit}))
    return status, json.loads(body)


def _store_order(cid: str, oid: str, at: str, total: str, category: str, refunded_at: str | None = None) -> list[dict[str, Any]]:
    found = [
        {
            "event_id": f"ord-{oid}",
            "type": "order.completed",
            "customer_id": cid,
            "occurred_at": at,
            "source": "till",
            "properties": {
                "order_id": oid,
                "total": total,
                "currency": "EUR",
                "channel": "store",
                "items": [{"sku": f"{category}-1", "category": category, "quantity": 1, "price": total}],
            },
        }
    ]
    if refunded_at:
        found.append(
            {
                "event_id": f"ref-{oid}",
                "type": "order.refunded",
                "customer_id": cid,
                "occurred_at": refunded_at,
                "properties": {"order_id": oid},
            }
        )
    return found


def _view(cid: str, at: str) -> dict[str, Any]:
    return {
        "event_id": f"pv-{cid}-{at}",
        "type": "page.viewed",
        "customer_id": cid,
        "occurred_at": at,
        "properties": {"url": "https://shop.example/p/1", "sku": "tea-1", "seconds": 30},
    }


def test_the_shipped_examples_select_from_what_the_api_stored(stack: Any) -> None:
    # the stack's clock: 2026-01-01 09:00 UTC
    events = [
        upsert("fits", birthday="1991-01-01"),  # 35 today
        upsert("too-old", birthday="1990-01-01"),  # 36 today
        upsert("refunded", birthday="1995-06-01"),
        consent("fits"),
        consent("too-old", status="opt_out"),
        *_store_order("fits", "o1", "2025-12-01T10:00:00Z", "60.00", "tea"),
        *_store_order("too-old", "o2", "2025-12-01T10:00:00Z", "60.00", "coffee"),
        *_store_order("refunded", "o3", "2025-12-01T10:00:00Z", "60.00", "tea", refunded_at="2025-12-02T10:00:00Z"),
        *[_view(cid, at) for cid in ("fits", "too-old", "refunded") for at in ("2025-12-10T10:00:00Z", "2025-12-20T10:00:00Z")],
    ]
    status, body = post_events(stack, events)
    assert status == 202 and body["accepted"] == len(events), body
    stack.settle()

    def members(name: str) -> list[str]:
        status, found = _preview(stack, (ROOT / "audiences" / "examples" / f"{name}.yaml").read_text())
        assert status == 200, found
        assert found["count"] == len(found["sample"]) and found["evaluated_at"].startswith("2026-01-01T09:00")
        return [m["customer_id"] for m in found["sample"]]

    assert members("young-store-spenders") == ["fits"]  # 36, and a refunded store order, do not
    assert members("tea-buyers") == ["fits"]
    assert members("newsletter-subscribers") == ["fits"]
    assert members("lapsed-browsers") == []  # all ordered within 183 days


def test_a_preview_refuses_a_wrong_definition_with_its_line_and_field(stack: Any) -> None:
    status, body = _preview(stack, "id: x\nname: x\nwhere:\n  orders:\n    chanel: store\n")
    assert status == 422 and body["error"]["line"] == 5 and "chanel" in body["error"]["field"]
    status, body = _preview(stack, "id: x\nname: x\nwhere: {age: {min: 1}}\n", limit=5000)
    assert status == 400 and body["error"]["field"] == "limit"


def test_a_postal_address_is_stored_shown_and_selected_on(stack: Any) -> None:
    from tests.conftest import get_customer

    address = {"line1": "Hauptstraße 5", "postal_code": "10115", "city": "Berlin", "country": "DE"}
    events = [
        upsert("berlin", address=address),
        upsert("hamburg", address={"line1": "Am Markt 1", "line2": "3. OG", "postal_code": "20095", "city": "Hamburg"}),
        upsert("nowhere"),
    ]
    status, body = post_events(stack, events)
    assert status == 202 and body["accepted"] == 3, body
    moved = upsert("berlin", at="2026-01-01T08:00:00Z", address=address | {"line1": "Torstraße 9"})  # replaced whole
    assert post_events(stack, [moved])[1]["accepted"] == 1
    stack.settle()
    assert get_customer(stack, "berlin")[1]["profile"]["address"] == address | {"line1": "Torstraße 9"}
    assert "address" not in get_customer(stack, "nowhere")[1]["profile"]

    def members(where: str) -> list[str]:
        status, found = _preview(stack, f"id: x\nname: x\nwhere: {where}\n")
        assert status == 200, found
        return sorted(m["customer_id"] for m in found["sample"])

    assert members("{profile: {field: city, eq: Berlin}}") == ["berlin"]
    assert members("{profile: {field: postal_code, in: ['20095', '10115']}}") == ["berlin", "hamburg"]
    assert members("{not: {profile: {field: postal_code, exists: true}}}") == ["nowhere"]


def test_a_wrong_postal_address_is_refused_naming_its_field(stack: Any) -> None:
    wrong = [
        ({"line1": "Am Markt 1", "postal_code": "20095"}, "city"),  # no city
        ({"line1": "Am Markt 1", "postal_code": "20095;DROP", "city": "Hamburg"}, "postal_code"),
        ({"line1": "Am Markt 1", "postal_code": "20095", "city": "Hamburg", "country": "Germany"}, "country"),
        ({"line1": "Am Markt 1", "postal_code": "20095", "city": "Hamburg", "floor": 3}, "floor"),
    ]
    status, body = post_events(stack, [upsert(f"w{n}", address=a) for n, (a, _field) in enumerate(wrong)])
    assert status == 202 and body["accepted"] == 0, body
    for rejection, (_address, field) in zip(body["rejected"], wrong, strict=True):
        assert f"address.{field}" in json.dumps(rejection), rejection
