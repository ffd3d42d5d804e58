"""Publications on the local stack: once a day's audience snapshot is current, every saved
audience's publications are written to S3 (the day's file and ``latest``) by the export
function and announced, signed, to the webhooks subscribed to ``audience.published``; each once
per run, however often the sweep runs."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import KEY, consent, post_events, upsert
from tests.integration.conftest import Receiver
from tests.integration.test_audience_snapshot import _snapshot

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "publications/newsletter-subscribers/mail-tool/"


@pytest.fixture
def mail_tool_stack(receiver: Receiver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """The shipped stack, with the mail tool's endpoint subscribed to publications."""
    endpoint = {"id": "mail-tool", "url": receiver.url, "events": ["audience.published"]}
    monkeypatch.setenv("NUDGELOOP_WEBHOOKS", json.dumps([endpoint]))
    return request.getfixturevalue("stack")


def _files(stack: Any) -> dict[str, str]:
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        s3, bucket = client("s3"), stack.res.buckets["data"]
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="publications/").get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}


def _push_shipped(stack: Any) -> None:
    text = (ROOT / "audiences" / "examples" / "newsletter-subscribers.yaml").read_text()
    assert stack.api("PUT", "/v1/audiences/newsletter-subscribers", headers=KEY, body=text)[0] == 200
    tea = (ROOT / "audiences" / "examples" / "tea-buyers.yaml").read_text()  # no publications of its own
    assert stack.api("PUT", "/v1/audiences/tea-buyers", headers=KEY, body=tea)[0] == 200


def test_the_shipped_publication_writes_the_opt_ins_each_day_and_announces_it_signed_once(
    mail_tool_stack: Any, receiver: Receiver
) -> None:
    from standardwebhooks.webhooks import Webhook

    from nudgeloop.adapters.secrets import signing_key
    from nudgeloop.domain import webhooks

    stack = mail_tool_stack
    post_events(stack, [upsert("p1", locale="de-AT"), consent("p1"), upsert("p2"), consent("p2", status="opt_out"), upsert("p3")])
    stack.settle()
    _push_shipped(stack)
    _snapshot(stack)
    stack.settle()  # the export function's invocation, then the webhook's
    files = _files(stack)
    assert sorted(files) == [PREFIX + "2026-01-01.csv", PREFIX + "latest.csv"]
    rows = list(csv.reader(io.StringIO(files[PREFIX + "latest.csv"])))
    assert rows == [
        ["customer_id", "email", "first_name", "last_name", "locale", "consent_newsletter"],
        ["p1", "p1@customers.example", "Ada", "", "de-AT", "opt_in"],
    ]
    assert files[PREFIX + "2026-01-01.csv"] == files[PREFIX + "latest.csv"]
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    payload = json.loads(sent["body"])
    data = payload["data"]
    assert payload["type"] == "audience.published"
    assert (data["audience_id"], data["publication_id"], data["day"], data["rows"]) == (
        "newsletter-subscribers",
        "mail-tool",
        "2026-01-01",
        1,
    )
    assert data["s3"]["key"] == PREFIX + "2026-01-01.csv" and data["s3"]["latest"] == PREFIX + "latest.csv"
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    with stack.aws_lock:
        secret = webhooks.secret_for(signing_key(stack.catalog.signing_secret_name), "mail-tool")
        downloaded = requests.get(data["download"]["url"], timeout=10)
    assert headers["webhook-id"] == data["export_id"]
    signed_at = stack.clock.now().replace(microsecond=0)
    assert headers["webhook-signature"] == Webhook(secret).sign(headers["webhook-id"], signed_at, sent["body"].decode())
    assert downloaded.status_code == 200 and downloaded.text == files[PREFIX + "latest.csv"]
    # the export it was is listed with the audience's exports, with its publication
    status, _h, raw = stack.api("GET", f"/v1/audiences/newsletter-subscribers/exports/{data['export_id']}", headers=KEY)
    assert status == 200 and json.loads(raw)["publication"]["id"] == "mail-tool"

    stack.advance(timedelta(hours=3))  # many more sweeps of the same run: nothing published again
    assert len(receiver.requests) == 1 and len(_files(stack)) == 2

    post_events(stack, [consent("p3", at="2026-01-01T12:00:00Z")])  # p3 opts in during the day
    stack.settle()
    stack.advance(timedelta(hours=21))  # the next day's snapshot at 02:00, and its publication
    stack.settle()
    files = _files(stack)
    assert sorted(files) == [PREFIX + "2026-01-01.csv", PREFIX + "2026-01-02.csv", PREFIX + "latest.csv"]
    assert [r[0] for r in csv.reader(io.StringIO(files[PREFIX + "latest.csv"]))] == ["customer_id", "p1", "p3"]
    assert [r[0] for r in csv.reader(io.StringIO(files[PREFIX + "2026-01-01.csv"]))] == ["customer_id", "p1"]
    assert len(receiver.requests) == 2 and json.loads(receiver.requests[1]["body"])["data"]["day"] == "2026-01-02"
    # the delivery report: the audience's exports, newest first, a page at a time
    status, _h, raw = stack.api("GET", "/v1/audiences/newsletter-subscribers/exports", headers=KEY, query={"limit": "1"})
    first = json.loads(raw)
    assert status == 200 and [(e["publication"]["day"], e["status"], e["rows"]) for e in first["exports"]] == [
        ("2026-01-02", "succeeded", 2)
    ]
    query = {"limit": "1", "cursor": first["next"]}
    second = json.loads(stack.api("GET", "/v1/audiences/newsletter-subscribers/exports", headers=KEY, query=query)[2])
    assert [e["publication"]["day"] for e in second["exports"]] == ["2026-01-01"] and second["next"] is None
    assert "download" not in second["exports"][0]  # links are made by each export's own answer


def test_a_publication_refused_by_the_schema_is_not_stored(stack: Any) -> None:
    text = (ROOT / "audiences" / "examples" / "newsletter-subscribers.yaml").read_text()
    bad = text.replace("columns: [email, name, locale, consent_newsletter]", "columns: [email, password]")
    status, _h, raw = stack.api("PUT", "/v1/audiences/newsletter-subscribers", headers=KEY, body=bad)
    error = json.loads(raw)["error"]
    assert status == 400 and error["field"] == "publish.0.columns" and "password" in error["reason"]
    twice = text + "  - id: mail-tool\n"
    status, _h, raw = stack.api("PUT", "/v1/audiences/newsletter-subscribers", headers=KEY, body=twice)
    assert status == 400 and json.loads(raw)["error"]["field"] == "publish"


def test_a_sweep_that_dies_after_starting_a_publication_starts_none_twice(stack: Any) -> None:
    """The run's marker is saved after the publications start: a sweep that died between the two
    starts them again, and each export id is the run's, so none is started twice."""
    from nudgeloop.services import audience_publications, audience_snapshot

    post_events(stack, [upsert("p1"), consent("p1")])
    stack.settle()
    _push_shipped(stack)
    _snapshot(stack)
    stack.settle()
    with stack.aws_lock:
        current = audience_snapshot.current()
        assert current is not None
        again = audience_publications.start_due(stack.res.buckets["campaigns"], current)
    assert again == []
    assert len([k for k in _files(stack) if k.endswith(".csv")]) == 2
