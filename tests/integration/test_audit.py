"""The audit trail (docs/privacy.md): who changed audiences, templates, campaigns, keys and a
person's consent, and who exported a person, queryable per object and per customer, kept in a
table of its own."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import KEY, consent, upsert

ROOT = Path(__file__).resolve().parents[2]
INGEST = {"x-api-key": "local-ingest-key-for-development"}  # a shop's


def _key_ids(stack: Any) -> dict[str, str]:
    return {k["name"]: k["key_id"] for k in json.loads(stack.api("GET", "/v1/keys", headers=KEY)[2])["keys"]}


def _audit(stack: Any, **query: str) -> tuple[int, dict[str, Any]]:
    status, _h, body = stack.api("GET", "/v1/audit", headers=KEY, query=query)
    return status, json.loads(body)


def test_changes_made_through_the_api_name_their_key_per_object_and_per_customer(stack: Any) -> None:
    ids = _key_ids(stack)
    text = (ROOT / "audiences" / "examples" / "tea-buyers.yaml").read_text()
    assert stack.api("PUT", "/v1/audiences/tea-buyers", headers=KEY, body=text)[0] == 200
    stack.advance(timedelta(minutes=1))
    assert stack.api("PUT", "/v1/audiences/tea-buyers", headers=KEY, body=text)[0] == 200
    status, found = _audit(stack, object="audience:tea-buyers")
    assert status == 200
    assert [(e["action"], e["actor"]) for e in found["entries"]] == [("saved", f"key:{ids['local-admin']}")] * 2
    first, second = found["entries"][1], found["entries"][0]  # newest first
    assert first["details"]["version"] != second["details"]["version"]

    # the shop's own statement (an ingest key) is proven by the events table; an admin's override is audited
    status, _h, _b = stack.api("POST", "/v1/events", headers=INGEST, body=json.dumps({"events": [upsert("c1"), consent("c1")]}))
    assert status == 202
    override = {**consent("c1", status="opt_out", at="2026-01-01T08:00:00Z"), "event_id": "override-1"}
    assert stack.api("POST", "/v1/events", headers=KEY, body=json.dumps({"events": [override]}))[0] == 202
    stack.advance(timedelta(minutes=1))  # entries of one millisecond have no order among them
    assert stack.api("GET", "/v1/customers/c1/export", headers=KEY)[0] == 200
    status, found = _audit(stack, customer="c1")
    assert [(e["object"], e["action"], e["actor"]) for e in found["entries"]] == [
        ("customer:c1", "exported", f"key:{ids['local-admin']}"),
        ("customer:c1", "consent", f"key:{ids['local-admin']}"),
    ]
    assert found["entries"][1]["details"] == {"event_id": "override-1", "purpose": "newsletter", "status": "opt_out"}

    made = json.loads(stack.api("POST", "/v1/keys", headers=KEY, body=json.dumps({"name": "pos", "scope": "ingest"}))[2])
    stack.advance(timedelta(minutes=1))
    assert stack.api("DELETE", f"/v1/keys/{made['key_id']}", headers=KEY)[0] == 200
    status, found = _audit(stack, object=f"key:{made['key_id']}", limit="1")
    assert [e["action"] for e in found["entries"]] == ["revoked"] and found["next"]
    status, rest = _audit(stack, object=f"key:{made['key_id']}", limit="1", cursor=found["next"])
    assert [e["action"] for e in rest["entries"]] == ["created"]
    assert made["value"] not in json.dumps(rest)  # never the key itself


def test_template_and_campaign_uploads_are_recorded_with_their_version(stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        s3 = client("s3")
        put = s3.put_object(Bucket=stack.res.buckets["templates"], Key="templates/promo/en.html", Body=b"<p>{{ first_name }}</p>")
        s3.put_object(Bucket=stack.res.buckets["templates"], Key="templates/promo/en.subject.txt", Body=b"Hello")
    stack.settle()
    status, found = _audit(stack, object="template:promo/en.html")
    assert status == 200
    [entry] = found["entries"]
    assert entry["action"] == "uploaded" and entry["details"]["version_id"] in (put.get("VersionId"), None)
    assert entry["actor"].startswith(("iam:", "s3:"))
    stack.load_examples()  # campaigns too
    status, found = _audit(stack, object="campaign:welcome.yaml")
    assert [e["action"] for e in found["entries"]] == ["uploaded"]


def test_a_redelivered_upload_notification_records_the_same_entry_naming_the_uploader(stack: Any) -> None:
    """As S3 sends it in AWS: the uploading principal and the version (moto's carry neither)."""
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-01-01T08:30:00.000Z",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLEMARKETER"},
        "s3": {
            "bucket": {"name": stack.res.buckets["templates"]},
            "object": {"key": "templates/promo/en.html", "eTag": "abc", "versionId": "v-1"},
        },
    }
    message = {
        "messageId": "m-1",
        "receiptHandle": "r",
        "body": json.dumps({"Records": [record]}),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:templates",
        "awsRegion": "eu-west-1",
    }
    for _ in range(2):  # SQS delivers at least once
        stack.call("templates_check", {"Records": [message]})
    _status, found = _audit(stack, object="template:promo/en.html")
    assert [(e["actor"], e["at"], e["details"]["version_id"]) for e in found["entries"]] == [
        ("iam:AWS:AIDAEXAMPLEMARKETER", "2026-01-01T08:30:00.000Z", "v-1")
    ]


def test_the_trail_is_for_admin_keys_and_a_wrong_query_names_its_field(stack: Any) -> None:
    read = {"x-api-key": "local-read-key-for-development"}
    status, _h, body = stack.api("GET", "/v1/audit", headers=read, query={"customer": "c1"})
    assert status == 403 and json.loads(body)["needs"] == ["admin"]
    for query, field in (
        ({}, "object"),
        ({"object": "bucket:x"}, "object"),
        ({"object": "audience:a", "customer": "c1"}, "object"),
        ({"customer": "c1", "limit": "0"}, "limit"),
        ({"customer": "c1", "cursor": "nonsense"}, "cursor"),
    ):
        status, found = _audit(stack, **query)
        assert status == 400 and found["error"]["field"] == field, (query, found)
