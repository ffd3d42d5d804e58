"""Shopify webhook adapter: ``orders/create`` payloads, HMAC-verified, mapped onto our events.

Shopify signs each webhook with the app's secret: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-
SHA256 of the raw body. A request whose signature does not match is refused before its body
is even parsed. An order becomes an ``order.completed`` event (id ``shopify-order-<id>``, so
Shopify's own retries are stored once) and, when the order names its customer, a
``customer.upserted`` event with the customer's email and name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from nudgeloop.services.ingest import BadRequest, parse_json

TOPIC = "orders/create"
SOURCE = "shopify"
# Shopify's source_name values that are not the online store
_CHANNELS = {"pos": "store", "iphone": "app", "android": "app", "shopify_mobile": "app"}


class BadSignature(PermissionError):
    """The request is not from the shop (missing or wrong HMAC)."""


def verify(secret: bytes, body: bytes, signature: str | None) -> None:
    if not signature:
        raise BadSignature("X-Shopify-Hmac-Sha256 header is missing")
    expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    # bytes, not str: compare_digest refuses non-ASCII str (a header is any text a caller sends)
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogateescape")):
        raise BadSignature("X-Shopify-Hmac-Sha256 does not match the body")


def _sku(line: dict[str, Any]) -> str | None:
    if line.get("sku"):
        return str(line["sku"])
    for key, prefix in (("variant_id", "variant-"), ("product_id", "product-")):
        if line.get(key):
            return f"{prefix}{line[key]}"
    return None


def customer_id_of(order: dict[str, Any]) -> str:
    customer = order.get("customer") or {}
    for name in ("email", "first_name", "last_name"):
        if customer.get(name) is not None and not isinstance(customer[name], str):
            raise BadRequest(f"customer.{name}", f"customer.{name} must be a string")
    if customer.get("id"):
        return f"shopify-{customer['id']}"
    email = (order.get("email") or customer.get("email") or "").strip().lower()
    if email:  # guest checkout: a stable id from the address, the address itself stays out of ids
        return "shopify-guest-" + hashlib.sha256(email.encode()).hexdigest()[:32]
    raise BadRequest("customer", "the order names neither a customer nor an email address")


def to_events(order: Any) -> list[dict[str, Any]]:
    """The raw events (validated afterwards like any other) for one ``orders/create`` payload."""
    if not isinstance(order, dict):
        raise BadRequest("body", "body must be a JSON object (a Shopify order)")
    for name in ("id", "created_at", "currency", "total_price"):
        if order.get(name) in (None, ""):
            raise BadRequest(name, f"a Shopify order has {name}")
    for name, kind, what in (("customer", dict, "an object"), ("line_items", list, "an array")):
        if order.get(name) is not None and not isinstance(order[name], kind):
            raise BadRequest(name, f"{name} must be {what}")
    for name in ("email", "processed_at", "created_at", "source_name"):
        if order.get(name) is not None and not isinstance(order[name], str):
            raise BadRequest(name, f"{name} must be a string")
    customer_id = customer_id_of(order)
    occurred_at = order.get("processed_at") or order["created_at"]
    items = []
    for index, line in enumerate(order.get("line_items") or []):
        if not isinstance(line, dict):
            raise BadRequest(f"line_items[{index}]", "a line item must be an object")
        sku = _sku(line)
        if sku is None:
            raise BadRequest(f"line_items[{index}].sku", "a line item needs a sku, variant_id or product_id")
        items.append(
            {
                "sku": sku,
                "name": str(line.get("title") or line.get("name") or "")[:512] or None,
                "category": str(line.get("product_type") or "")[:512] or None,
                "quantity": line.get("quantity", 1),
                "price": str(line.get("price", "0")),
            }
        )
    events: list[dict[str, Any]] = []
    customer = order.get("customer") or {}
    profile = {
        k: v
        for k, v in {
            "email": order.get("email") or customer.get("email"),
            "first_name": customer.get("first_name"),
            "last_name": customer.get("last_name"),
        }.items()
        if v
    }
    if profile:
        events.append(
            {
                "event_id": f"shopify-customer-{order['id']}",
                "type": "customer.upserted",
                "customer_id": customer_id,
                "occurred_at": occurred_at,
                "source": SOURCE,
                "properties": profile,
            }
        )
    events.append(
        {
            "event_id": f"shopify-order-{order['id']}",
            "type": "order.completed",
            "customer_id": customer_id,
            "occurred_at": occurred_at,
            "source": SOURCE,
            "properties": {
                "order_id": f"shopify-{order['id']}",
                "total": str(order["total_price"]),
                "currency": order["currency"],
                "channel": _CHANNELS.get(str(order.get("source_name") or ""), "webshop"),
                "items": [{k: v for k, v in item.items() if v is not None} for item in items],
            },
        }
    )
    return events


def parse(body: bytes) -> Any:
    return parse_json(body)
