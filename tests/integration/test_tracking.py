"""The Segment-compatible tracking API on the local stack: write keys, gzip, skipped messages, and
anonymous visitors joined to the customer they turn out to be."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from tests.conftest import KEY, get_customer

INGEST = "local-ingest-key-for-development"
READ = "local-read-key-for-development"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(), "Content-Type": "application/json"}


def post(stack: Any, path: str, payload: Any, headers: dict[str, str] | None = None, zipped: bool = False) -> tuple[int, dict]:
    data = json.dumps(payload).encode()
    sent = dict(headers if headers is not None else basic(INGEST))
    if zipped:
        data = gzip.compress(data)
        sent["Content-Encoding"] = "gzip"
    status, _h, body = stack.api("POST", f"/segment/v1/{path}", headers=sent, data=data)
    return status, json.loads(body)


def events_of(stack: Any, customer: str) -> list[dict]:
    status, _h, body = stack.api("GET", f"/v1/customers/{customer}/events", headers=KEY)
    assert status == 200
    return json.loads(body)["events"]


AT = "2026-01-01T08:00:00Z"


def test_a_write_key_is_required_and_must_be_an_ingest_key(stack) -> None:
    track = {"userId": "u1", "event": "Signed Up", "messageId": "m1", "timestamp": AT}
    assert post(stack, "track", track, headers={})[0] == 401
    assert post(stack, "track", track, headers=basic("no-such-key"))[0] == 401
    status, body = post(stack, "track", track, headers=basic(READ))
    assert status == 403 and body["error"]["field"] == "Authorization"
    assert post(stack, "track", {**track, "writeKey": INGEST}, headers={})[0] == 200  # analytics.js: in the body
    assert post(stack, "track", track)[0] == 200


def test_a_gzip_batch_is_taken_and_a_bad_message_is_skipped_not_the_batch(stack) -> None:
    batch = {
        "batch": [
            {"type": "identify", "messageId": "m1", "userId": "u1", "timestamp": AT,
             "traits": {"email": "ada@customers.example", "firstName": "Ada", "plan": "gold"}},
            {"type": "track", "messageId": "m2", "userId": "u1", "event": "Order Completed", "timestamp": AT,
             "properties": {"order_id": "o1", "total": 40, "currency": "EUR", "products": [{"sku": "SKU-1", "price": 40}]}},
            {"type": "track", "messageId": "m3", "userId": "u1", "event": "Order Completed", "timestamp": AT,
             "properties": {"order_id": "o2", "total": 10}},
            {"type": "identify", "messageId": "m4", "userId": "u1", "timestamp": AT,
             "traits": {"email": "not an address", "birthday": "01/05/1990", "lastName": "Lovelace"}},
        ],
        "sentAt": AT,
    }  # fmt: skip
    status, body = post(stack, "batch", batch, zipped=True)
    assert status == 200 and body["accepted"] == 3 and body["duplicates"] == 0
    assert [(s["index"], s["field"]) for s in body["skipped"]] == [(2, "properties.currency")]
    # a bad trait is taken out and named; the rest of the identify is kept
    assert [(d["index"], d["field"]) for d in body["dropped"]] == [(3, "properties.email"), (3, "properties.birthday")]
    assert post(stack, "batch", batch, zipped=True)[1]["duplicates"] == 3  # messageId is the de-duplication key
    stack.settle()
    status, customer = get_customer(stack, "u1")
    assert status == 200 and customer["aggregates"]["orders"] == 1 and customer["attributes"] == {"plan": "gold"}
    assert customer["profile"]["email"] == "ada@customers.example" and customer["profile"]["last_name"] == "Lovelace"


def test_a_body_that_is_not_gzip_coded_is_refused_as_api_gateway_does(stack) -> None:
    headers = {**basic(INGEST), "Content-Encoding": "gzip"}
    status, _h, body = stack.api("POST", "/segment/v1/batch", headers=headers, data=b'{"batch": []}')
    assert status == 415
    status, _h, body = stack.api("POST", "/segment/v1/batch", headers=basic(INGEST), data=b'{"batch": {}}')
    assert status == 400 and json.loads(body)["error"]["field"] == "batch"


def test_a_visitors_views_and_cart_before_login_become_the_customers(stack) -> None:
    anonymous = [
        {"type": "page", "messageId": "p1", "anonymousId": "visitor-1", "name": "Tea", "timestamp": AT,
         "properties": {"url": "https://shop.example/tea"}},
        {"type": "track", "messageId": "c1", "anonymousId": "visitor-1", "event": "Product Added", "timestamp": AT,
         "properties": {"cart_id": "k1", "sku": "SKU-1", "price": 9.9}},
    ]  # fmt: skip
    assert post(stack, "batch", {"batch": anonymous})[1]["accepted"] == 2
    stack.settle()
    assert get_customer(stack, "anon:visitor-1")[0] == 404  # kept, not applied: no customer of its own
    assert {e["event_id"] for e in events_of(stack, "anon:visitor-1")} == {"p1", "c1"}
    login = {"type": "identify", "messageId": "i1", "userId": "u7", "anonymousId": "visitor-1", "timestamp": AT,
             "traits": {"email": "u7@customers.example"}}  # fmt: skip
    assert post(stack, "identify", login)[0] == 200
    later = {"type": "page", "messageId": "p2", "anonymousId": "visitor-1", "timestamp": AT, "properties": {"url": "/cart"}}
    assert post(stack, "page", later)[0] == 200  # linked by now: stored as the customer's at once
    stack.settle()
    history = {(e["type"], e["event_id"]) for e in events_of(stack, "u7")}
    assert {("page.viewed", "p1"), ("cart.updated", "c1"), ("page.viewed", "p2"), ("customer.upserted", "i1")} <= history
    assert get_customer(stack, "u7")[0] == 200
    # a second identity cannot take the visitor over: the first link stands
    assert post(stack, "alias", {"type": "alias", "messageId": "a1", "userId": "u8", "previousId": "visitor-1"})[0] == 200
    stack.settle()
    assert not [e for e in events_of(stack, "u8") if e["type"] != "identity.linked"]


def test_erasing_a_customer_erases_the_visitor_history_linked_to_them(stack) -> None:
    from nudgeloop.adapters.aws import client

    visit = {"type": "page", "messageId": "p9", "anonymousId": "visitor-9", "timestamp": AT, "properties": {"url": "/tea"}}
    login = {"type": "identify", "messageId": "i9", "userId": "u9", "anonymousId": "visitor-9", "timestamp": AT,
             "traits": {"email": "u9@customers.example"}}  # fmt: skip
    assert post(stack, "batch", {"batch": [visit, login]})[1]["accepted"] == 3
    stack.settle()
    assert {e["event_id"] for e in events_of(stack, "u9")} >= {"p9", "i9", "i9:link"}
    assert stack.api("DELETE", "/v1/customers/u9", headers=KEY)[0] == 202
    stack.settle()

    def naming(needle: str) -> list[str]:
        found: list[str] = []
        with stack.aws_lock:
            for spec in stack.catalog.tables:
                for page in client("dynamodb").get_paginator("scan").paginate(TableName=spec.name):
                    found += [spec.name for item in page["Items"] if needle in json.dumps(item)]
            s3, archive = client("s3"), stack.res.buckets["data"]
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=archive, Prefix="archive/"):
                for version in page.get("Versions", []):
                    body = s3.get_object(Bucket=archive, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                    found += [version["Key"]] if needle.encode() in gzip.decompress(body) else []
        return found

    assert naming("visitor-9") == []
    assert post(stack, "page", {**visit, "messageId": "p10"})[0] == 200  # the visitor again: kept, linked to no one
    stack.settle()
    assert get_customer(stack, "u9")[0] == 404


def test_a_write_key_created_moments_ago_is_asked_for_again_not_refused(stack, monkeypatch) -> None:
    import time

    from nudgeloop.adapters import api_keys

    track = {"userId": "u1", "event": "Signed Up", "messageId": "m1", "timestamp": AT}
    assert post(stack, "track", track, headers=basic("no-such-key"))[0] == 401  # the keys were listed just now
    status, _h, body = stack.api("POST", "/v1/keys", headers=KEY, body=json.dumps({"name": "tracker", "scope": "ingest"}))
    assert status == 201
    fresh = json.loads(body)["value"]
    status, answer = post(stack, "track", track, headers=basic(fresh))
    assert status == 503 and answer["error"]["field"] == "Authorization"  # the libraries retry a 5xx
    later = time.monotonic() + api_keys.RELIST_S + 1
    monkeypatch.setattr(api_keys.time, "monotonic", lambda: later)
    assert post(stack, "track", track, headers=basic(fresh))[0] == 200


def test_the_audience_tables_hold_a_linked_visitors_events_once_as_the_customers(stack) -> None:
    from tests.integration.test_audience_snapshot import _glue_rows, _snapshot

    visit = {"type": "page", "messageId": "p5", "anonymousId": "visitor-5", "timestamp": AT, "properties": {"url": "/tea"}}
    stray = {"type": "page", "messageId": "p6", "anonymousId": "visitor-6", "timestamp": AT, "properties": {"url": "/tea"}}
    login = {"type": "identify", "messageId": "i5", "userId": "u5", "anonymousId": "visitor-5", "timestamp": AT,
             "traits": {"email": "u5@customers.example"}}  # fmt: skip
    assert post(stack, "batch", {"batch": [visit, stray, login]})[0] == 200
    stack.settle()
    _snapshot(stack)
    views = [row for row in _glue_rows(stack, "events") if "p5" in row or "p6" in row]
    assert [row[0] for row in views] == ["u5"]  # not also under anon:visitor-5; the unlinked visitor is no customer


def test_a_visitors_order_counts_for_no_customer_until_linked(stack) -> None:
    from nudgeloop.dal import event_log

    guest = {"type": "track", "messageId": "g1", "anonymousId": "visitor-7", "event": "Order Completed", "timestamp": AT,
             "properties": {"order_id": "g-1", "total": 30, "currency": "EUR"}}  # fmt: skip
    assert post(stack, "track", guest)[1]["accepted"] == 1
    stack.settle()
    with stack.aws_lock:
        assert [c for c, _orders in event_log.orders_by_customer()] == []  # CLV, baskets, forecasts see no customer
    post(stack, "alias", {"type": "alias", "messageId": "a7", "userId": "u7", "previousId": "visitor-7"})
    stack.settle()
    with stack.aws_lock:
        assert [c for c, _orders in event_log.orders_by_customer()] == ["u7"]
    assert get_customer(stack, "u7")[1]["aggregates"]["orders"] == 1


def test_erasing_a_customer_leaves_a_visitor_linked_to_someone_else_first(stack) -> None:
    visit = {"type": "page", "messageId": "p8", "anonymousId": "visitor-8", "timestamp": AT, "properties": {"url": "/tea"}}
    first = {"type": "alias", "messageId": "a8", "userId": "u8a", "previousId": "visitor-8"}
    second = {"type": "alias", "messageId": "b8", "userId": "u8b", "previousId": "visitor-8"}  # refused: the first stands
    assert post(stack, "batch", {"batch": [visit, first]})[0] == 200
    stack.settle()
    assert post(stack, "alias", second)[0] == 200
    stack.settle()
    assert stack.api("DELETE", "/v1/customers/u8b", headers=KEY)[0] == 202
    stack.settle()
    assert {e["event_id"] for e in events_of(stack, "anon:visitor-8")} == {"p8"}  # u8a's visitor, kept
    later = {**visit, "messageId": "p9"}
    assert post(stack, "page", later)[0] == 200
    stack.settle()
    assert {"p8", "p9"} <= {e["event_id"] for e in events_of(stack, "u8a")}  # still linked to u8a
