"""The Segment (and RudderStack) tracking spec, mapped onto our events (pure).

One message (``identify``, ``track``, ``page``, ``screen``, ``alias``, ``group``) becomes zero or
more raw events for ``events.validate_event``; docs/integrations.md has the table. A message that
cannot be mapped is reported with the field it lacks, and skipped: the batch it came in is still
taken (Segment's clients drop a whole batch that is answered with a 4xx).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from nudgeloop import clock
from nudgeloop.domain import identity, ids
from nudgeloop.domain.events import MAX_ATTRIBUTES_PER_EVENT, MAX_TEXT

SOURCE = "segment"
TYPES = ("identify", "track", "page", "screen", "alias", "group")
# the e-commerce spec's events (https://segment.com/docs/connections/spec/ecommerce/v2/)
ORDER_EVENTS = {"Order Completed": "order.completed", "Order Refunded": "order.refunded"}
CART_EVENTS = ("Product Added", "Product Removed", "Cart Viewed", "Checkout Started")
PROFILE_TRAITS = {
    "email": "email",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "gender": "gender",
    "birthday": "birthday",
}
_GENDERS = {"female": "female", "f": "female", "woman": "female", "male": "male", "m": "male", "man": "male"}
_DROPPED_TRAITS = {"id", "userId", "user_id", "address"}  # the ids are the message's; the address is mapped on its own


@dataclass
class Mapped:
    """The raw events of one message, or why it was skipped (``field`` names what is wrong)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    field: str | None = None
    reason: str | None = None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _skip(field_name: str, reason: str) -> Mapped:
    return Mapped(field=field_name, reason=reason)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = clock.parse_iso(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def occurred_at(message: dict[str, Any], sent_at: Any, received_at: datetime) -> datetime:
    """When it happened, as Segment's spec says: ``timestamp`` as given; else ``originalTimestamp``
    corrected for the device's clock (``receivedAt - (sentAt - originalTimestamp)``); else now."""
    given = _instant(message.get("timestamp"))
    if given is not None:
        return given
    original = _instant(message.get("originalTimestamp"))
    sent = _instant(message.get("sentAt")) or _instant(sent_at)
    if original is not None and sent is not None:
        return received_at - (sent - original)
    return original or received_at


def _id(raw: str) -> str:
    """An id of ours (event, SKU, cart) from the message's: as sent when valid, else hashed."""
    return ids.id_or_hash(raw, "seg-")


def custom_type(name: str) -> str:
    """The ``custom.*`` type of an event name of a tracker's (``Coupon Applied``: ``custom.coupon_applied``)."""
    return "custom." + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:57] or "event")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:MAX_TEXT]


def _money(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return str(amount) if amount.is_finite() else None


def _attributes(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Free traits as customer attributes: keys made valid, flat values only (objects and lists
    have no place in a flat attribute)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = ids.attribute_key(f"{prefix}{key}")
        if not name or isinstance(value, dict | list):
            continue
        out[name] = value[:MAX_TEXT] if isinstance(value, str) else value
    return out


def _address(raw: Any) -> dict[str, Any] | None:
    """Segment's ``address`` trait (street, city, postalCode, state, country) as a postal address,
    when it has what a postal address needs."""
    if not isinstance(raw, dict):
        return None
    street, city, code = raw.get("street"), raw.get("city"), raw.get("postalCode") or raw.get("postal_code")
    if not (isinstance(street, str) and street and isinstance(city, str) and city and isinstance(code, str | int) and code):
        return None
    address: dict[str, Any] = {"line1": street[:128], "city": city[:128], "postal_code": str(code)[:16]}
    if isinstance(raw.get("state"), str) and raw["state"]:
        address["region"] = raw["state"][:128]
    country = raw.get("country")
    if isinstance(country, str) and re.fullmatch(r"[A-Za-z]{2}", country):
        address["country"] = country.upper()
    return address


def _profile(traits: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for trait, name in PROFILE_TRAITS.items():
        value = traits.get(trait)
        if value is not None and name not in props:
            props[name] = value
    if "first_name" not in props and isinstance(traits.get("name"), str) and " " not in traits["name"].strip():
        props["first_name"] = traits["name"].strip()
    if isinstance(props.get("birthday"), str):
        props["birthday"] = props["birthday"][:10]  # an ISO date-time's date
    if "gender" in props:
        gender = _GENDERS.get(str(props["gender"]).strip().lower())
        props.pop("gender")
        if gender:
            props["gender"] = gender
    address = _address(traits.get("address"))
    if address is not None:
        props["address"] = address
        if "country" in address:
            props["country"] = address["country"]
    locale = ids.locale_tag(context.get("locale"))
    if locale:
        props["locale"] = locale
    if isinstance(context.get("timezone"), str):
        props["timezone"] = context["timezone"]
    free = {k: v for k, v in traits.items() if k not in PROFILE_TRAITS and k not in _DROPPED_TRAITS}
    attributes = _attributes(free)
    if attributes:
        props["attributes"] = dict(list(attributes.items())[:MAX_ATTRIBUTES_PER_EVENT])
    return props


def _item(product: dict[str, Any], price_required: bool) -> dict[str, Any] | None:
    sku = product.get("sku") or product.get("product_id") or product.get("id")
    if sku is None or isinstance(sku, dict | list):
        return None
    item: dict[str, Any] = {"sku": _id(str(sku))}
    for name in ("name", "category"):
        if _text(product.get(name)):
            item[name] = _text(product.get(name))
    quantity = product.get("quantity")
    if isinstance(quantity, int | float) and not isinstance(quantity, bool) and quantity >= 1:
        item["quantity"] = int(quantity)
    price = _money(product.get("price"))
    if price is not None:
        item["price"] = price
    elif price_required:
        item["price"] = "0"
    return item


def _items(props: dict[str, Any], price_required: bool) -> list[dict[str, Any]]:
    products = props.get("products")
    if not isinstance(products, list):
        products = [props] if any(k in props for k in ("sku", "product_id")) else []
    return [item for p in products if isinstance(p, dict) for item in [_item(p, price_required)] if item is not None]


def _url(props: dict[str, Any], context: dict[str, Any], fallback: str = "/") -> str:
    page = _object(context.get("page"))
    for value in (props.get("url"), page.get("url"), props.get("path"), page.get("path")):
        if isinstance(value, str) and re.fullmatch(r"(https?://|/)\S{0,2040}", value):
            return value
    return fallback


def _track(name: str, props: dict[str, Any], context: dict[str, Any], customer: str) -> tuple[str, dict[str, Any]] | Mapped:
    """(our type, properties) of a ``track`` call, or why it cannot be mapped."""
    if name in ORDER_EVENTS:
        order_id = props.get("order_id") or props.get("checkout_id")
        if order_id is None or isinstance(order_id, dict | list):
            return _skip("properties.order_id", f"{name} needs properties.order_id")
        if name == "Order Refunded":
            refund: dict[str, Any] = {"order_id": str(order_id)}
            amount = _money(props.get("total") if props.get("total") is not None else props.get("revenue"))
            if amount is not None:
                refund["amount"] = amount
            return "order.refunded", refund
        total = _money(props.get("total") if props.get("total") is not None else props.get("revenue"))
        if total is None:
            return _skip("properties.total", "Order Completed needs properties.total (or revenue)")
        if not isinstance(props.get("currency"), str):
            return _skip("properties.currency", "Order Completed needs properties.currency (ISO 4217, e.g. EUR)")
        order = {"order_id": str(order_id), "total": total, "currency": props["currency"].upper(), "items": _items(props, True)}
        if context.get("app"):
            order["channel"] = "app"
        return "order.completed", order
    if name in CART_EVENTS:
        cart_id = props.get("cart_id") or props.get("checkout_id") or f"cart-{customer.removeprefix(identity.PREFIX)}"
        cart: dict[str, Any] = {
            "cart_id": _id(str(cart_id)),
            "items": [] if name == "Product Removed" else _items(props, False),
        }
        for key in ("total", "value"):
            if _money(props.get(key)) is not None and "total" not in cart:
                cart["total"] = _money(props.get(key))
        if isinstance(props.get("currency"), str):
            cart["currency"] = props["currency"].upper()
        if isinstance(props.get("url"), str) and name in ("Cart Viewed", "Checkout Started"):
            cart["cart_url"] = props["url"]
        return "cart.updated", cart
    if name == "Product Viewed":
        viewed: dict[str, Any] = {"url": _url(props, context)}
        sku = props.get("sku") or props.get("product_id")
        if sku is not None and not isinstance(sku, dict | list):
            viewed["sku"] = _id(str(sku))
        for key in ("name", "category"):
            if _text(props.get(key)):
                viewed["title" if key == "name" else key] = _text(props.get(key))
        return "page.viewed", viewed
    return custom_type(name), {**props, "event": name[:200]}


def map_message(message: Any, sent_at: Any, received_at: datetime) -> Mapped:
    """The raw events of one message (customer ids as sent: ``resolve`` replaces anonymous ones)."""
    if not isinstance(message, dict):
        return _skip("", "a message is a JSON object")
    kind = message.get("type")
    if kind not in TYPES:
        return _skip("type", f"type must be one of {', '.join(TYPES)}")
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        return _skip("messageId", "messageId is required (the de-duplication key)")
    user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
    user = str(user_id) if isinstance(user_id, str | int) and not isinstance(user_id, bool) and str(user_id) else None
    anonymous = str(anonymous_id) if isinstance(anonymous_id, str | int) and str(anonymous_id) else None
    if user is not None and not ids.is_id(user):
        return _skip("userId", "userId must be 1-128 of A-Z a-z 0-9 . _ : @ + - (it is the customer id)")
    if user is not None and identity.is_anonymous(user):
        return _skip("userId", f"userId must not start with {identity.PREFIX}")
    context = _object(message.get("context"))
    when = clock.iso(occurred_at(message, sent_at, received_at))
    out = Mapped()

    def add(customer: str, type_: str, properties: dict[str, Any], part: str = "") -> None:
        out.events.append(
            {"event_id": _id(f"{message_id}{part}"), "type": type_, "customer_id": customer,
             "occurred_at": when, "source": SOURCE, "properties": properties}
        )  # fmt: skip

    if kind == "alias":
        previous = message.get("previousId")
        if user is None:
            return _skip("userId", "alias needs userId (the customer)")
        if not isinstance(previous, str | int) or not str(previous):
            return _skip("previousId", "alias needs previousId (the anonymous id it links)")
        add(user, identity.LINKED, {"anonymous_id": str(previous)})
        return out
    if user is None and anonymous is None:
        return _skip("userId", "a message needs userId or anonymousId")
    customer = user if user is not None else identity.anonymous_customer(str(anonymous))
    if user is not None and anonymous is not None:
        add(user, identity.LINKED, {"anonymous_id": anonymous}, ":link")
    props = _object(message.get("properties"))
    if kind == "identify":
        # RudderStack's libraries send an identify's traits in context.traits only
        traits = {
            **_object(context.get("traits")),
            **_object(message.get("traits")),
        }
        profile = _profile(traits, context)
        if profile:
            add(customer, "customer.upserted", profile)
    elif kind == "group":
        group = message.get("groupId")
        traits = _object(message.get("traits"))
        if not isinstance(group, str | int) or not str(group):
            return _skip("groupId", "group needs groupId")
        attributes = {"group_id": str(group), **_attributes(traits, "group_")}
        add(customer, "customer.upserted", {"attributes": dict(list(attributes.items())[:MAX_ATTRIBUTES_PER_EVENT])})
    elif kind in ("page", "screen"):
        title = _text(props.get("title")) or _text(message.get("name"))
        slug = re.sub(r"[^A-Za-z0-9._~-]+", "-", str(message.get("name") or "screen")).strip("-") or "screen"
        viewed = {"url": _url(props, context, "/" if kind == "page" else f"/screens/{slug}")}
        if title:
            viewed["title"] = title
        referrer = props.get("referrer")
        if isinstance(referrer, str) and re.fullmatch(r"(https?://|/)\S{0,2040}", referrer):
            viewed["referrer"] = referrer
        add(customer, "page.viewed", viewed)
    else:  # track
        name = message.get("event")
        if not isinstance(name, str) or not name.strip():
            return _skip("event", "track needs event (its name)")
        mapped = _track(name.strip(), props, context, customer)
        if isinstance(mapped, Mapped):
            return mapped
        add(customer, *mapped)
    return out
