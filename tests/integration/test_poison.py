"""No poison: every accepted event is applied or refused at the door with a 4xx naming the field;
one broken thing about a customer never blocks their later events, an opt-out least of all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from nudgeloop_cli.local.provision import LOCAL_WEBHOOK_SECRET
from tests.conftest import KEY, consent, get_customer, post_events, upsert


def newsletter(stack, cid: str = "c1") -> str:
    return get_customer(stack, cid)[1]["consents"]["newsletter"]["status"]


def poison(stack, cid: str = "c1") -> None:
    """A customer item exactly at DynamoDB's 400 KB limit (no byte more fits), as the first wave's
    unbounded merge of attributes made them."""
    from pynamodb.exceptions import PutError

    from nudgeloop.dal import customer_store

    low, high = 300_000, 409_600  # the largest blob the item still takes, by bisection
    with stack.aws_lock:
        while high - low > 1:
            middle = (low + high) // 2
            customer = customer_store.get_customer(cid)
            customer.attributes = {"blob": "x" * middle}
            try:
                customer_store.save_customer(customer)
                low = middle
            except PutError:
                high = middle
        customer = customer_store.get_customer(cid)
        assert len(customer.attributes["blob"]) == low


def test_a_customer_at_the_400_kb_limit_still_gets_their_opt_out_and_unsubscribe(stack) -> None:
    from nudgeloop.adapters.secrets import signing_key
    from nudgeloop.services import preferences

    post_events(stack, [upsert("c1"), consent("c1"), consent("c1", purpose="marketing")])
    stack.settle()
    poison(stack)
    # the full update of this customer cannot be written any more (the item would pass 400 KB)
    post_events(stack, [upsert("c1", at="2026-01-01T08:00:00Z", first_name="Grace")])
    stack.settle()
    assert newsletter(stack) == "opt_in"
    status, _ = post_events(stack, [consent("c1", "opt_out", at="2026-01-01T08:30:00Z")])
    assert status == 202
    stack.settle()
    assert newsletter(stack) == "opt_out"  # applied on its own
    with stack.aws_lock:
        url = preferences.unsubscribe_url(
            "https://api.example", signing_key(stack.catalog.signing_secret_name), "c1", "marketing"
        )
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert stack.api("POST", "/v1/unsubscribe", query={"token": token})[0] == 200
    stack.settle()
    assert get_customer(stack, "c1")[1]["consents"]["marketing"]["status"] == "opt_out"


def test_attributes_past_what_a_customer_can_hold_are_refused_per_event(stack) -> None:
    many = {f"a{i:03d}": "v" for i in range(50)}
    more = {f"b{i:03d}": "v" for i in range(50)}
    status, body = post_events(stack, [upsert("c1", attributes=many), upsert("c1", at="2025-12-31T09:00:00Z", attributes=more)])
    assert status == 202 and not body.get("rejected")
    stack.settle()
    status, body = post_events(stack, [upsert("c1", at="2025-12-31T10:00:00Z", attributes={"one_more": 1})])
    assert body["rejected"][0]["field"] == "events[0].properties.attributes"
    assert "at most 100 attributes" in body["rejected"][0]["reason"]
    # a null removes one; then there is room again
    post_events(stack, [upsert("c1", at="2025-12-31T11:00:00Z", attributes={"a000": None})])
    stack.settle()
    status, body = post_events(stack, [upsert("c1", at="2025-12-31T12:00:00Z", attributes={"one_more": 1})])
    assert not body.get("rejected")
    stack.settle()
    held = get_customer(stack, "c1")[1]["attributes"]
    assert len(held) == 100 and "a000" not in held and held["one_more"] == 1


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({f"k{i}": 1 for i in range(51)}, "events[0].properties.attributes"),
        ({"k": "x" * 513}, "events[0].properties.attributes.k"),
        ({"bad key": 1}, "events[0].properties.attributes.bad key.[key]"),
    ],
)
def test_attributes_are_bounded_in_count_key_and_value(stack, attributes, field) -> None:
    _status, body = post_events(stack, [upsert("c1", attributes=attributes)])
    assert body["rejected"][0]["field"].startswith(field)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {
                "type": "service.booked",
                "occurred_at": "2025-12-31T08:00:00Z",
                "properties": {
                    "booking_id": "b1",
                    "service": "x",
                    "starts_at": "9999-12-31T00:00:00Z",
                    "ends_at": "9999-12-31T01:00:00Z",
                },
            },
            "events[0].properties.starts_at",
        ),
        ({"type": "customer.upserted", "occurred_at": "0001-01-01T00:30:00+01:00", "properties": {}}, "events[0].occurred_at"),
        (
            {"type": "customer.upserted", "occurred_at": "2025-12-31T08:00:00Z", "properties": {"birthday": "0001-01-01"}},
            "events[0].properties.birthday",
        ),
    ],
)
def test_moments_later_code_could_overflow_on_are_refused(stack, event, field) -> None:
    status, body = post_events(stack, [{"customer_id": "c1", **event}])
    assert status == 202 and body["rejected"][0]["field"] == field, body
    stack.settle()
    assert stack.dlq_depths()["nudgeloop-failures"] == 0


def test_a_failing_event_is_logged_counted_and_kept_and_the_customers_later_consent_still_applies(stack, monkeypatch) -> None:
    from nudgeloop.services import segmenting

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()

    def broken(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(segmenting, "refresh", broken)
    post_events(stack, [upsert("c1", at="2026-01-01T08:00:00Z", birthday="1990-05-01")])
    post_events(stack, [consent("c1", "opt_out", at="2026-01-01T08:10:00Z")])
    stack.settle()
    assert newsletter(stack) == "opt_out"
    failed = [f for f in stack.failures if f["function"] == "ingest_process"]
    assert failed and stack.dlq_depths()["nudgeloop-failures"] == 1


def _post(stack, body: str | bytes, path: str = "/v1/events", headers: dict | None = None) -> tuple[int, dict]:
    status, _h, raw = stack.api("POST", path, headers=headers or KEY, body=body.decode() if isinstance(body, bytes) else body)
    return status, json.loads(raw)


CUSTOM = '{"events": [{"type": "custom.x", "customer_id": "c1", "occurred_at": "2025-12-31T08:00:00Z", "properties": {"n": %s}}]}'


@pytest.mark.parametrize(
    "body",
    [
        CUSTOM % ("9" * 4301),
        '{"events": ' + "[" * 5000 + "]" * 5000 + "}",
        CUSTOM % "NaN",
        CUSTOM % "-Infinity",
    ],
    ids=["huge-int", "deep-nesting", "nan", "infinity"],
)
def test_unusable_json_is_a_400_naming_the_body(stack, body) -> None:
    status, answer = _post(stack, body)
    assert status == 400 and answer["error"]["field"] == "body", answer


def test_the_body_limit_counts_bytes_not_characters(stack) -> None:
    body = json.dumps({"events": [upsert("c1", first_name="é" * 200)] * 1}, ensure_ascii=False)
    body += " " * (600_000 - len(body))
    body = body.replace(" ", "€", 300_000)  # 600,000 characters, about 1.2 MB of UTF-8
    status, answer = _post(stack, body)
    assert status == 413 and answer["error"]["field"] == "body"


@pytest.mark.parametrize("limit", ["²", "9" * 5000, "-1", "0", "101", " 5"])
def test_a_bad_limit_is_a_400_naming_it(stack, limit) -> None:
    post_events(stack, [upsert("c1")])
    stack.settle()
    status, _h, raw = stack.api("GET", "/v1/customers/c1/events", headers=KEY, query={"limit": limit})
    assert status == 400 and json.loads(raw)["error"]["field"] == "limit"


def _signed(payload: object) -> tuple[str, dict[str, str]]:
    raw = json.dumps(payload)
    signature = base64.b64encode(hmac.new(LOCAL_WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).digest()).decode()
    return raw, {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signature}


ORDER = {"id": 1, "created_at": "2025-12-31T08:00:00Z", "currency": "EUR", "total_price": "10.00", "email": "a@b.example"}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"line_items": ["a string"]}, "line_items[0]"),
        ({"line_items": "a string"}, "line_items"),
        ({"customer": "a string"}, "customer"),
        ({"email": 42}, "email"),
        ({"customer": {"id": 7, "email": 42}}, "customer.email"),
        ({"id": int("9" * 50)}, "body"),
    ],
)
def test_signed_shopify_orders_with_wrong_types_are_a_400_naming_the_field(stack, over, field) -> None:
    raw, headers = _signed({**ORDER, **over})
    status, answer = _post(stack, raw, "/v1/webhooks/shopify", headers)
    assert status == 400 and answer["error"]["field"] == field, answer


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_the_newer_statement_wins_within_a_second_for_consent_and_profile(stack, order) -> None:
    statements = [
        consent("c1", "opt_in", at="2025-12-31T23:45:00Z"),
        consent("c1", "opt_out", at="2025-12-31T23:45:00.500Z"),
        upsert("c1", at="2025-12-31T23:45:00Z", first_name="Old"),
        upsert("c1", at="2025-12-31T23:45:00.500Z", first_name="New"),
    ]
    first, second = (statements[0::2], statements[1::2]) if order == "in order" else (statements[1::2], statements[0::2])
    post_events(stack, first)
    stack.settle()
    post_events(stack, second)
    stack.settle()
    customer = get_customer(stack, "c1")[1]
    assert customer["consents"]["newsletter"]["status"] == "opt_out"
    assert customer["consents"]["newsletter"]["occurred_at"] == "2025-12-31T23:45:00.500Z"
    assert customer["profile"]["first_name"] == "New"


@pytest.mark.parametrize("address", ["victim,eve@example.com", "(support)eve@example.com", "a\x00b@example.com"])
def test_an_address_that_cannot_be_sent_is_refused_at_the_door(stack, address) -> None:
    _status, body = post_events(stack, [upsert("c1", email=address)])
    assert body["rejected"][0]["field"] == "events[0].properties.email"


def test_a_stored_address_that_cannot_be_sent_is_skipped_never_left_in_doubt(stack) -> None:
    from nudgeloop.dal import customer_store, ledger
    from tests.conftest import order

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    with stack.aws_lock:  # written before addresses were validated as one mailbox
        customer = customer_store.get_customer("c1")
        customer.email = "(support)eve@example.com"
        assert customer_store.save_customer(customer)
    post_events(stack, [order("c1", "o1")])
    stack.settle()
    assert stack.outbox() == []
    with stack.aws_lock:
        entries = ledger.ledger("c1")
    assert [(e.status, (e.data or {}).get("reason")) for e in entries] == [("skipped:no_address", "invalid_address")]


def test_the_to_header_is_the_validated_address_verbatim(stack) -> None:
    from tests.conftest import order

    post_events(stack, [upsert("c1", email="Ada.Lovelace+News@Example.COM"), consent("c1"), order("c1", "o1")])
    stack.settle()
    assert stack.outbox()[0]["headers"]["To"] == "ada.lovelace+news@example.com"


def test_an_old_unsubscribe_link_replayed_after_a_new_opt_in_changes_nothing(stack) -> None:
    from datetime import timedelta

    from nudgeloop.adapters.secrets import signing_key
    from nudgeloop.services import preferences

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    with stack.aws_lock:
        url = preferences.unsubscribe_url(
            "https://api.example", signing_key(stack.catalog.signing_secret_name), "c1", "newsletter"
        )
    token = parse_qs(urlsplit(url).query)["token"][0]
    status, _h, body = stack.api("POST", "/v1/unsubscribe", query={"token": token})
    assert status == 200 and json.loads(body)["unsubscribed"] is True
    stack.settle()
    assert newsletter(stack) == "opt_out"
    stack.advance(timedelta(days=10))
    post_events(stack, [consent("c1", "opt_in", at="2026-01-11T09:00:00Z")])  # subscribed again
    stack.settle()
    status, _h, body = stack.api("POST", "/v1/unsubscribe", query={"token": token})  # the old mail's link
    assert status == 200 and json.loads(body) == {"unsubscribed": False, "purpose": "newsletter", "purposes": []}
    stack.settle()
    assert newsletter(stack) == "opt_in"
