"""Audience exports on the local stack: ``POST /v1/audiences/{id}/exports`` has Athena select the
chosen columns of the members over the current snapshot, the export function (invoked
asynchronously, under its own role) writes the file, ``GET .../exports/{export_id}`` links to it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import requests

from tests.conftest import KEY, post_events, upsert
from tests.integration.test_audience_snapshot import _snapshot
from tests.integration.test_audience_sources import _workload

# everyone: the newsletter opt-ins, and everyone else
EVERYONE = """
id: everyone
name: Everyone
where:
  any:
    - consent: {purpose: newsletter, status: [opt_in]}
    - not: {consent: {purpose: newsletter, status: [opt_in]}}
"""


def _setup(stack: Any) -> None:
    _workload(stack)
    post_events(stack, [upsert("a4", first_name='=HYPERLINK("https://evil.example")', last_name="-1")])
    stack.settle()
    status, _h, raw = stack.api("PUT", "/v1/audiences/everyone", headers=KEY, body=EVERYONE)
    assert status == 200, raw
    _snapshot(stack)


def _export(stack: Any, body: dict[str, Any], audience_id: str = "everyone") -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, raw = stack.api("POST", f"/v1/audiences/{audience_id}/exports", headers=KEY, body=json.dumps(body))
    return status, headers, json.loads(raw)


def _finished(stack: Any, body: dict[str, Any]) -> dict[str, Any]:
    stack.settle()  # the export function's asynchronous invocation
    status, _h, raw = stack.api("GET", f"/v1/audiences/everyone/exports/{body['export_id']}", headers=KEY)
    assert status == 200, raw
    return json.loads(raw)  # type: ignore[no-any-return]


def _download(stack: Any, url: str) -> requests.Response:
    with stack.aws_lock:  # moto answers the presigned link (it intercepts requests in process)
        return requests.get(url, timeout=10)


def test_a_csv_export_holds_the_chosen_columns_of_every_member_and_is_linked(stack: Any) -> None:
    _setup(stack)
    status, headers, body = _export(
        stack, {"format": "csv", "columns": ["email", "name", "address", "consent", "engagement", "clv"]}
    )
    assert status == 202 and headers.get("retry-after") == "5" and body["status"] == "running"
    assert headers.get("location") == f"/v1/audiences/everyone/exports/{body['export_id']}"
    done = _finished(stack, body)
    assert (done["status"], done["rows"], done["format"]) == ("succeeded", 4, "csv"), done
    assert done["download"]["expires_at"] == "2026-01-01T10:05:00.000Z"  # an hour after the clock's now
    got = _download(stack, done["download"]["url"])
    assert got.status_code == 200 and 'filename="everyone-' in got.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8"))))
    header = rows[0]
    assert header[:4] == ["customer_id", "email", "first_name", "last_name"]
    assert header == done["columns"] and len(rows) == 1 + 4
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert list(by_id) == ["a1", "a2", "a3", "a4"]  # in customer id order
    a1 = by_id["a1"]
    assert (a1["email"], a1["address_line1"], a1["postal_code"], a1["city"], a1["address_country"]) == (
        "a1@customers.example",
        "Hauptstr. 1",
        "10115",
        "Berlin",
        "DE",
    )
    assert (a1["consent_newsletter"], a1["consent_marketing"], a1["consent_service"]) == ("opt_in", "opt_out", "")
    assert (a1["mails_sent_30d"], a1["mails_opened_30d"], a1["mails_clicked_30d"]) == ("1", "1", "0")
    assert a1["last_opened_at"].endswith("Z") and a1["last_opened_at"].startswith("2026-01-01T")
    assert float(a1["clv_expected_value_12m"]) == 120.5 and float(a1["clv_p_alive"]) == 0.8
    assert (by_id["a2"]["address_line1"], by_id["a2"]["address_country"], by_id["a2"]["mails_opened_30d"]) == ("", "", "0")
    assert by_id["a3"]["clv_expected_value_12m"] == ""
    # text a spreadsheet would run as a formula stays text
    assert by_id["a4"]["first_name"] == '\'=HYPERLINK("https://evil.example")' and by_id["a4"]["last_name"] == "'-1"


def test_a_json_lines_export_writes_numbers_as_numbers_and_absent_values_as_null(stack: Any) -> None:
    _setup(stack)
    _status, _h, body = _export(stack, {"format": "jsonl", "columns": ["customer_id", "first_name", "step", "engagement", "clv"]})
    done = _finished(stack, body)
    lines = _download(stack, done["download"]["url"]).content.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["customer_id"] for r in records] == ["a1", "a2", "a3", "a4"] and done["rows"] == 4
    a1, a3, a4 = records[0], records[2], records[3]
    assert a1["clv_expected_value_12m"] == 120.5 and a1["mails_opened_30d"] == 1 and a1["step"]
    assert a3["clv_expected_value_12m"] is None and a3["mails_opened_30d"] == 0
    assert a4["first_name"] == '=HYPERLINK("https://evil.example")'  # JSON is data, not a spreadsheet
    assert done["bytes"] == sum(len(line) + 1 for line in lines)


def test_an_export_reads_the_audience_not_everyone(stack: Any) -> None:
    from pathlib import Path

    _setup(stack)
    text = (Path(__file__).resolve().parents[2] / "audiences" / "examples" / "high-value.yaml").read_text()
    assert stack.api("PUT", "/v1/audiences/high-value", headers=KEY, body=text)[0] == 200
    _status, _h, body = _export(stack, {"columns": ["email"]}, audience_id="high-value")
    stack.settle()
    status, _h, raw = stack.api("GET", f"/v1/audiences/high-value/exports/{body['export_id']}", headers=KEY)
    done = json.loads(raw)
    assert (status, done["rows"], done["columns"]) == (200, 1, ["customer_id", "email"])
    assert _download(stack, done["download"]["url"]).content.decode().splitlines() == [
        "customer_id,email",
        "a1,a1@customers.example",
    ]


def test_bad_export_requests_name_the_field(stack: Any) -> None:
    status, headers, body = _export(stack, {"columns": ["email"]}, audience_id="nobody")
    assert (status, body["error"]["field"]) == (404, "audience_id")
    assert stack.api("PUT", "/v1/audiences/everyone", headers=KEY, body=EVERYONE)[0] == 200
    status, headers, body = _export(stack, {"columns": ["email"]})
    assert (status, headers.get("retry-after"), body["status"]) == (503, "300", "waiting_for_snapshot")
    for request, field in (
        ({"columns": ["email", "password"]}, "columns[1]"),
        ({"format": "xlsx"}, "format"),
        ({"columns": []}, "columns"),
        ({"columns": "email"}, "columns"),
        ({"colums": ["email"]}, "colums"),
    ):
        status, _h, body = _export(stack, request)
        assert (status, body["error"]["field"]) == (400, field), request
    status, _h, raw = stack.api("POST", "/v1/audiences/everyone/exports", headers=KEY, body="[1]")
    assert status == 400 and json.loads(raw)["error"]["field"] == "body"
    for export_id in ("0123456789abcdef", "not-an-export"):
        status, _h, raw = stack.api("GET", f"/v1/audiences/everyone/exports/{export_id}", headers=KEY)
        assert status == 404 and json.loads(raw)["error"]["field"] == "export_id"


def test_a_failed_query_and_a_job_that_never_finished_report_failed(stack: Any) -> None:
    from nudgeloop.adapters.aws import client
    from nudgeloop_cli.local.faults import Faults

    _setup(stack)
    with stack.aws_lock:  # an operator removed the run's consents table by hand
        for table in client("glue").get_tables(DatabaseName=stack.catalog.audience_database)["TableList"]:
            if table["Name"].startswith("consents_r"):
                client("glue").delete_table(DatabaseName=stack.catalog.audience_database, Name=table["Name"])
    _status, _h, body = _export(stack, {"columns": ["consent"]})
    done = _finished(stack, body)
    assert done["status"] == "failed" and "TABLE_NOT_FOUND" in done["reason"] and "download" not in done
    # the export function fails every attempt: Lambda keeps the event in the failures queue
    stack.faults = Faults.parse("audience_export:raise~1")
    _status, _h, body = _export(stack, {"columns": ["email"]})
    stack.settle()
    path = f"/v1/audiences/everyone/exports/{body['export_id']}"
    assert stack.api("GET", path, headers=KEY)[0] == 202
    assert any(f["function"] == "audience_export" for f in stack.failures)
    stack.clock.advance(timedelta(minutes=31))
    status, _h, raw = stack.api("GET", path, headers=KEY)
    assert status == 200 and json.loads(raw)["status"] == "failed"


def test_the_api_role_cannot_write_exports_and_the_export_role_cannot_read_the_archive(stack: Any) -> None:
    import pytest
    from botocore.exceptions import ClientError

    from nudgeloop.adapters.aws import client

    bucket = stack.res.buckets["data"]
    with stack.aws_lock, stack.enforcer.acting_as("ingest_api"), pytest.raises(ClientError, match="AccessDenied"):
        client("s3").put_object(Bucket=bucket, Key="audience-exports/x/y.csv", Body=b"")
    with stack.aws_lock, stack.enforcer.acting_as("audience_export"), pytest.raises(ClientError, match="AccessDenied"):
        client("s3").get_object(Bucket=bucket, Key="archive/events/dt=2026-01-01/x.jsonl")


def test_a_file_over_a_part_is_uploaded_in_parts_and_one_left_by_an_error_is_aborted(stack: Any) -> None:
    import pytest

    from nudgeloop.adapters import objects
    from nudgeloop.adapters.aws import client

    bucket = stack.res.buckets["data"]
    chunk = b"x" * (1024 * 1024)
    with stack.aws_lock, stack.enforcer.acting_as("audience_export"):  # its role: PutObject, AbortMultipartUpload
        with objects.ObjectWriter(bucket, "audience-exports/big/file.csv", "text/csv") as out:
            for _ in range(11):
                out.write(chunk)
        with pytest.raises(RuntimeError), objects.ObjectWriter(bucket, "audience-exports/big/broken.csv", "text/csv") as out:
            for _ in range(9):
                out.write(chunk)
            raise RuntimeError("the function failed midway")
    with stack.aws_lock:
        head = client("s3").head_object(Bucket=bucket, Key="audience-exports/big/file.csv")
        assert head["ContentLength"] == 11 * len(chunk) and head["ETag"].endswith('-2"')  # two parts: 8 MiB and 3 MiB
        assert client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        listed = client("s3").list_objects_v2(Bucket=bucket, Prefix="audience-exports/big/")["Contents"]
        assert [o["Key"] for o in listed] == ["audience-exports/big/file.csv"]
