from datetime import UTC, datetime, timedelta

import pytest

from nudgeloop.domain.events import Event, Rejection, validate_event
from nudgeloop.services.ingest import BadRequest, parse_batch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(hours=1)


def good(**over):
    base = {
        "type": "order.completed",
        "customer_id": "c-1",
        "occurred_at": "2026-03-01T10:00:00Z",
        "properties": {
            "order_id": "o-1",
            "total": "19.90",
            "currency": "EUR",
            "items": [{"sku": "A", "price": "19.90"}],
        },
    }
    return {**base, **over}


def test_valid_event_is_normalised_with_a_content_id() -> None:
    event = validate_event(good(), 0, NOW, SKEW)
    assert isinstance(event, Event)
    assert event.event_id.startswith("c-")
    assert event.properties["total"] == "19.90"
    assert validate_event(good(), 0, NOW, SKEW).event_id == event.event_id  # same content, same id


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ("nope", "events[3]", "JSON object"),
        (good(type="party.started"), "events[3].type", "unknown event type"),
        (good(type="email.opened"), "events[3].type", "reserved"),
        (good(customer_id=""), "events[3].customer_id", "at least 1"),
        (good(occurred_at="yesterday"), "events[3].occurred_at", "datetime"),
        (good(occurred_at="2026-03-01T10:00:00"), "events[3].occurred_at", "timezone"),
        (good(occurred_at="2026-03-02T10:00:00Z"), "events[3].occurred_at", "future"),
        (
            good(properties={"order_id": "o", "total": "abc", "currency": "EUR"}),
            "events[3].properties.total",
            "decimal",
        ),
        (
            good(properties={"order_id": "o", "total": "1", "currency": "euro"}),
            "events[3].properties.currency",
            "pattern",
        ),
        (
            good(properties={"order_id": "o", "total": "1", "currency": "EUR", "items": [{"sku": "A"}]}),
            "events[3].properties.items[0].price",
            "required",
        ),
        (good(surprise=1), "events[3].surprise", "not permitted"),
    ],
)
def test_rejections_name_the_field(raw, field: str, reason: str) -> None:
    outcome = validate_event(raw, 3, NOW, SKEW)
    assert isinstance(outcome, Rejection)
    assert outcome.field == field
    assert reason in outcome.reason.lower() or reason in outcome.reason


def test_oversized_event_is_rejected_by_index() -> None:
    big = good(type="custom.blob", properties={"blob": "x" * 100_001})
    outcome = validate_event(big, 2, NOW, SKEW)
    assert isinstance(outcome, Rejection) and outcome.field == "events[2]" and "at most" in outcome.reason


def test_events_years_in_the_past_are_valid_historical_imports() -> None:
    assert isinstance(validate_event(good(occurred_at="2019-05-01T00:00:00.000Z"), 0, NOW, SKEW), Event)


def test_customer_email_is_validated_and_lowercased() -> None:
    raw = {
        "type": "customer.upserted",
        "customer_id": "c",
        "occurred_at": "2026-03-01T10:00:00Z",
        "properties": {"email": "Ada@Example.COM"},
    }
    event = validate_event(raw, 0, NOW, SKEW)
    assert isinstance(event, Event) and event.properties["email"] == "ada@example.com"
    raw["properties"] = {"email": "not-an-address"}
    bad = validate_event(raw, 0, NOW, SKEW)
    assert isinstance(bad, Rejection) and bad.field == "events[0].properties.email"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ("", "body", 400),
        ("{not json", "body", 400),
        ("[]", "events", 400),
        ('{"events": {}}', "events", 400),
        ('{"events": []}', "events", 400),
        ('{"events": [' + ",".join(["{}"] * 101) + "]}", "events", 413),
        ("x" * 1_000_001, "body", 413),
    ],
)
def test_bad_batches(body: str, field: str, status: int) -> None:
    with pytest.raises(BadRequest) as info:
        parse_batch(body)
    assert (info.value.field, info.value.status) == (field, status)


def typed(kind: str, properties: dict) -> dict:
    return {"type": kind, "customer_id": "c-1", "occurred_at": "2026-03-01T10:00:00Z", "properties": properties}


@pytest.mark.parametrize(
    ("kind", "properties"),
    [
        ("page.viewed", {"url": "https://shop.example/p/A", "sku": "A", "seconds": 42}),
        ("cart.updated", {"cart_id": "k-1", "items": [{"sku": "A", "quantity": 2, "price": "5"}], "currency": "EUR"}),
        ("cart.abandoned", {"cart_id": "k-1", "items": [{"sku": "A"}], "cart_url": "https://shop.example/cart/k-1"}),
        ("signup", {"form": "footer", "list": "newsletter"}),
        ("referral.created", {"referee_email": "Friend@Mail.example", "code": "ADA-10"}),
        ("consent.changed", {"purpose": "newsletter", "status": "opt_in", "source": "till", "proof": {"ip": "192.0.2.1"}}),
        ("custom.loyalty_card_scanned", {"anything": {"goes": [1, 2]}}),
    ],
)
def test_every_documented_type_is_accepted(kind: str, properties: dict) -> None:
    event = validate_event(typed(kind, properties), 0, NOW, SKEW)
    assert isinstance(event, Event), event
    if kind == "referral.created":
        assert event.properties["referee_email"] == "friend@mail.example"


@pytest.mark.parametrize(
    ("kind", "properties", "field"),
    [
        ("page.viewed", {}, "events[0].properties.url"),
        ("page.viewed", {"url": "javascript:alert(1)"}, "events[0].properties.url"),
        ("page.viewed", {"url": "/p/A", "seconds": -1}, "events[0].properties.seconds"),
        ("cart.updated", {"cart_id": "k", "items": [{"quantity": 1}]}, "events[0].properties.items[0].sku"),
        ("cart.abandoned", {"cart_id": "k", "currency": "euro"}, "events[0].properties.currency"),
        ("signup", {"newsletter": True}, "events[0].properties.newsletter"),
        ("referral.created", {"referee_email": "not-an-address"}, "events[0].properties.referee_email"),
        ("consent.changed", {"purpose": "newsletter", "status": "maybe"}, "events[0].properties.status"),
    ],
)
def test_typed_properties_are_checked(kind: str, properties: dict, field: str) -> None:
    outcome = validate_event(typed(kind, properties), 0, NOW, SKEW)
    assert isinstance(outcome, Rejection)
    assert outcome.field == field


import pytest as _pytest  # noqa: E402


@_pytest.mark.parametrize(
    "address",
    [
        "victim,eve@example.com",
        "a;b@example.com",
        "a\u202e@example.com",
        "a\x00b@example.com",
        "(support)eve@example.com",
        "group: a@b.example;",
        "Eve <eve@example.com>",
        '"quoted"@example.com',
        "eve@[192.0.2.1]",
        "jörg@example.de",  # SES does not take non-ASCII local parts (SMTPUTF8)
        "x@localhost",
    ],
)
def test_only_a_single_sendable_mailbox_is_an_address(address: str) -> None:
    from nudgeloop.domain import addresses

    with _pytest.raises(ValueError, match="not a valid email address"):
        addresses.mailbox(address)


def test_addresses_are_normalised_once() -> None:
    from nudgeloop.domain import addresses

    assert addresses.mailbox("Ada.Lovelace+News@Example.COM") == "ada.lovelace+news@example.com"
    assert addresses.mailbox("a@münchen.de") == "a@xn--mnchen-3ya.de"
    assert addresses.is_mailbox("a@b.example") and not addresses.is_mailbox("A@b.example")
