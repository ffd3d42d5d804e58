"""The Segment spec mapped onto our events: each call type, the e-commerce events, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeloop.domain import identity, segment
from nudgeloop.domain.events import Event, validate_event

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def mapped(message: dict, sent_at: str | None = None) -> segment.Mapped:
    return segment.map_message({"messageId": "m1", **message}, sent_at, NOW)


def test_identify_maps_traits_onto_the_profile_and_free_traits_onto_attributes() -> None:
    out = mapped(
        {
            "type": "identify",
            "userId": "u1",
            "context": {"locale": "de-ch", "timezone": "Europe/Zurich", "traits": {"plan": "silver"}},
            "traits": {"email": "Ada@Example.com", "firstName": "Ada", "lastName": "L", "gender": "F", "plan": "gold",
                       "birthday": "1990-05-01T00:00:00Z", "address": {"street": "Main 1", "city": "Bern", "postalCode": 3000,
                                                                      "country": "ch"}, "tags": ["a"]},
        }
    )  # fmt: skip
    (event,) = out.events
    assert event["type"] == "customer.upserted" and event["customer_id"] == "u1" and event["event_id"] == "m1"
    props = event["properties"]
    assert props["email"] == "Ada@Example.com" and props["gender"] == "female" and props["birthday"] == "1990-05-01"
    assert props["locale"] == "de-CH" and props["timezone"] == "Europe/Zurich" and props["country"] == "CH"
    assert props["address"] == {"line1": "Main 1", "city": "Bern", "postal_code": "3000", "country": "CH"}
    assert props["attributes"] == {"plan": "gold"}  # the message's traits over context.traits; lists dropped
    assert isinstance(validate_event(event, 0, NOW, timedelta(0)), Event)  # a valid event of ours


def test_a_message_with_both_ids_links_the_visitor_and_one_with_only_the_anonymous_id_is_kept_under_it() -> None:
    both = mapped({"type": "page", "userId": "u1", "anonymousId": "v-1", "properties": {"url": "/tea"}})
    assert [(e["type"], e["customer_id"], e["event_id"]) for e in both.events] == [
        ("identity.linked", "u1", "m1:link"),
        ("page.viewed", "u1", "m1"),
    ]
    alone = mapped({"type": "page", "anonymousId": "v-1", "properties": {"url": "/tea"}})
    assert [e["customer_id"] for e in alone.events] == ["anon:v-1"]
    assert identity.anonymous_customer("a b/c").startswith("anon:h-")  # not an id: hashed
    alias = mapped({"type": "alias", "userId": "u1", "previousId": "v-2"})
    assert alias.events[0]["properties"] == {"anonymous_id": "v-2"}


def test_the_ecommerce_events_become_orders_carts_and_page_views() -> None:
    order = mapped({"type": "track", "userId": "u1", "event": "Order Completed",
                    "properties": {"order_id": "o1", "revenue": 20, "currency": "eur",
                                   "products": [{"product_id": "p1", "price": 10, "quantity": 2, "name": "Tea"}]}})  # fmt: skip
    assert order.events[0]["type"] == "order.completed"
    assert order.events[0]["properties"] == {
        "order_id": "o1", "total": "20", "currency": "EUR",
        "items": [{"sku": "p1", "name": "Tea", "quantity": 2, "price": "10"}],
    }  # fmt: skip
    refund = mapped({"type": "track", "userId": "u1", "event": "Order Refunded", "properties": {"order_id": "o1"}})
    assert refund.events[0]["type"] == "order.refunded"
    for name in segment.CART_EVENTS:
        cart = mapped({"type": "track", "userId": "u1", "event": name, "properties": {"cart_id": "k1", "sku": "s1"}})
        assert cart.events[0]["type"] == "cart.updated" and cart.events[0]["properties"]["cart_id"] == "k1"
    viewed = mapped({"type": "track", "userId": "u1", "event": "Product Viewed", "properties": {"sku": "s1"},
                     "context": {"page": {"url": "https://shop.example/p/s1"}}})  # fmt: skip
    assert viewed.events[0]["properties"] == {"url": "https://shop.example/p/s1", "sku": "s1"}
    other = mapped({"type": "track", "userId": "u1", "event": "Coupon Applied", "properties": {"coupon_id": "X"}})
    assert other.events[0]["type"] == "custom.coupon_applied"
    screen = mapped({"type": "screen", "userId": "u1", "name": "Order History"})
    assert screen.events[0]["properties"] == {"url": "/screens/Order-History", "title": "Order History"}


def test_messages_that_cannot_be_mapped_name_their_field() -> None:
    assert mapped({"type": "track", "userId": "u1"}).field == "event"
    assert mapped({"type": "track", "event": "x"}).field == "userId"
    assert mapped({"type": "nope", "userId": "u1"}).field == "type"
    assert segment.map_message({"type": "page", "userId": "u1"}, None, NOW).field == "messageId"
    assert mapped({"type": "page", "userId": "anon:x"}).field == "userId"
    order = mapped({"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"order_id": "o1", "total": 1}})
    assert order.field == "properties.currency"


def test_timestamps_as_the_spec_says() -> None:
    given = mapped({"type": "page", "userId": "u1", "timestamp": "2026-12-04T10:00:00Z"})
    assert given.events[0]["occurred_at"] == "2026-12-04T10:00:00.000Z"
    # a device whose clock is an hour fast: corrected by the difference of sentAt and originalTimestamp
    skewed = mapped({"type": "page", "userId": "u1", "originalTimestamp": "2026-12-04T12:59:00Z"}, sent_at="2026-12-04T13:00:00Z")
    assert skewed.events[0]["occurred_at"] == "2026-12-04T11:59:00.000Z"
    assert mapped({"type": "page", "userId": "u1"}).events[0]["occurred_at"] == "2026-12-04T12:00:00.000Z"


def test_a_visitor_cannot_make_a_statement_of_consent_or_link_itself() -> None:
    from nudgeloop.domain.events import Rejection

    for kind, props in (
        ("consent.changed", {"purpose": "newsletter", "status": "opt_out"}),
        ("identity.linked", {"anonymous_id": "v"}),
    ):
        raw = {"type": kind, "customer_id": "anon:v-1", "occurred_at": "2026-12-04T10:00:00Z", "properties": props}
        refused = validate_event(raw, 0, NOW, timedelta(0))
        assert isinstance(refused, Rejection) and refused.field == "events[0].customer_id", kind


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_message = st.fixed_dictionaries(
    {"type": st.sampled_from([*segment.TYPES, "nope"]), "messageId": st.text(min_size=1, max_size=140)},
    optional={
        "userId": st.one_of(st.text(max_size=140), st.integers(), _json),
        "anonymousId": st.one_of(st.text(max_size=140), _json),
        "previousId": _json,
        "groupId": _json,
        "event": st.one_of(
            st.sampled_from([*segment.ORDER_EVENTS, *segment.CART_EVENTS, "Product Viewed"]), st.text(max_size=80)
        ),
        "name": _json,
        "timestamp": st.one_of(st.datetimes().map(lambda d: d.isoformat()), _json),
        "originalTimestamp": st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), _json),
        "traits": st.dictionaries(st.sampled_from(["email", "firstName", "birthday", "gender", "address", "x y"]), _json),
        "properties": st.dictionaries(
            st.sampled_from(["order_id", "total", "currency", "products", "sku", "url", "cart_id"]), _json
        ),
        "context": st.dictionaries(st.sampled_from(["locale", "timezone", "traits", "page", "app"]), _json),
    },
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(message=_message, sent_at=st.one_of(st.none(), _json))
def test_no_message_makes_the_mapping_or_the_validation_fail(message: dict, sent_at: object) -> None:
    out = segment.map_message(message, sent_at, NOW)
    assert (out.reason is None) == bool(out.events) or (out.reason is None and message["type"] == "identify")
    for event in out.events:
        validate_event(event, 0, NOW, timedelta(hours=1))  # an Event or a Rejection, never an exception
