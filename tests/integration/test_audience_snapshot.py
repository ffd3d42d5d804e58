"""The AWS evaluation path of audiences on the local stack: the snapshot job (DynamoDB's exports,
Athena's CTAS into Parquet, run by the embedded Athena under the function's own role) builds the
tables the Python read gives, and ``GET /v1/audiences/{id}/members`` answers from Athena what the
embedded preview answers, paged, with 202 while an evaluation runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import KEY, START, order, post_events, upsert
from tests.integration.test_audience_sources import _normal, _workload

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "audiences" / "examples").glob("*.yaml"))


def _snapshot(stack: Any) -> dict[str, Any]:
    """Run the snapshot sweep until a run is current; its status."""
    from nudgeloop.services import audience_snapshot

    stack.advance(timedelta(minutes=5))
    with stack.aws_lock:
        status = audience_snapshot.status()
    assert status["current"] is not None and status["last_error"] is None, status
    return status


def _glue_rows(stack: Any, table: str) -> list[tuple[Any, ...]]:
    """What a BI tool reads of an audience table under its plain name: the Parquet under its location."""
    import duckdb

    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        found = client("glue").get_table(DatabaseName=stack.catalog.audience_database, Name=table)["Table"]
        bucket, _, prefix = found["StorageDescriptor"]["Location"].removeprefix("s3://").partition("/")
        s3 = client("s3")
        blobs = [
            s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        ]
    rows: list[tuple[Any, ...]] = []
    with duckdb.connect(":memory:") as db:
        for n, blob in enumerate(blobs):
            db.execute(f"CREATE TABLE part{n} AS SELECT * FROM read_parquet($p)", {"p": _file(blob)})  # noqa: S608 - ours
            rows += db.execute(f"SELECT * FROM part{n}").fetchall()  # noqa: S608 - ours
    return rows


def _file(blob: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".parquet", delete=False) as f:
        f.write(blob)
    return f.name


def _get(stack: Any, audience_id: str, **query: str) -> tuple[int, dict[str, str], str]:
    return stack.api("GET", f"/v1/audiences/{audience_id}/members", headers=KEY, query=query)  # type: ignore[no-any-return]


def _members(stack: Any, audience_id: str, limit: int = 500) -> tuple[int, list[dict[str, Any]]]:
    """Every member, page by page; the count every page gave."""
    status, _h, raw = _get(stack, audience_id, limit=str(limit))
    assert status == 200, raw
    body = json.loads(raw)
    members, counts = list(body["members"]), {body["count"]}
    while body["next"]:
        status, _h, raw = _get(stack, audience_id, limit=str(limit), cursor=body["next"])
        assert status == 200, raw
        body = json.loads(raw)
        members += body["members"]
        counts.add(body["count"])
    assert counts == {len(members)}
    return len(members), members


def _push(stack: Any, path: Path) -> str:
    text = path.read_text()
    status, _h, raw = stack.api("PUT", f"/v1/audiences/{path.stem}", headers=KEY, body=text)
    assert status == 200, raw
    return path.stem


def test_the_snapshot_builds_the_tables_and_athena_finds_the_members_the_preview_finds(stack: Any) -> None:
    from nudgeloop import clock
    from nudgeloop.domain.audience_schema import TABLES
    from nudgeloop.services import audience_tables, audiences
    from nudgeloop_cli.local.audience_engine import DuckDBEngine

    _workload(stack)
    _snapshot(stack)
    with stack.aws_lock:
        expected = audience_tables.snapshot()
    for table in TABLES:
        assert _normal(table, _glue_rows(stack, table)) == _normal(table, expected[table]), table
    python_side = DuckDBEngine(expected)
    try:
        found = {}
        for path in EXAMPLES:
            audience_id = _push(stack, path)
            want = audiences.evaluate(audiences.parse(path.read_text()), python_side, clock.now())
            _count, members = _members(stack, audience_id, limit=1)  # a page each: the cursors followed
            assert [m["customer_id"] for m in members] == want.ids(), path.name
            assert [m["qualified_by"] for m in members] == [m.qualified_by for m in want.members], path.name
            found[audience_id] = want.ids()
        assert (found["tea-buyers"], found["high-value"], found["newsletter-subscribers"]) == (["a2"], ["a1"], ["a1"])
    finally:
        python_side.close()
    # every query ran in the audience workgroup, as the function that asked (fidelity.py checked each read)
    assert {r.workgroup for r in stack.athena.runs.values()} == {stack.catalog.audience_workgroup}
    assert {r.caller for r in stack.athena.runs.values()} == {"audience_snapshot", "ingest_api"}


def test_an_evaluation_answers_202_while_it_runs_and_one_per_snapshot_and_definition(stack: Any) -> None:
    post_events(stack, [upsert("t1"), order("t1", "o1")])
    stack.settle()
    _snapshot(stack)
    _push(stack, ROOT / "audiences" / "examples" / "tea-buyers.yaml")
    stack.athena.hold()
    status, headers, raw = _get(stack, "tea-buyers")
    assert (status, headers.get("retry-after"), json.loads(raw)["status"]) == (202, "5", "running")
    assert _get(stack, "tea-buyers")[0] == 202  # the same evaluation
    assert len(stack.athena.runs) == 11 + 1  # the snapshot's CTAS and one evaluation
    stack.athena.release()
    status, _h, raw = _get(stack, "tea-buyers")
    body = json.loads(raw)
    assert (status, body["count"], body["members"], body["state_as_of"]) == (200, 0, [], "2026-01-01T09:05:00.000Z")
    _get(stack, "tea-buyers")
    assert len(stack.athena.runs) == 12  # answered from the evaluation there is
    assert _get(stack, "tea-buyers", refresh="true")[0] == 200
    assert len(stack.athena.runs) == 13


def test_a_cursor_of_a_replaced_evaluation_is_gone_and_bad_requests_name_the_field(stack: Any) -> None:
    post_events(stack, [upsert(f"c{n}") for n in range(3)])
    stack.settle()
    _snapshot(stack)
    everyone = "id: everyone\nname: Everyone\nwhere: {orders: {count: {min: 0}}}\n"
    assert stack.api("PUT", "/v1/audiences/everyone", headers=KEY, body=everyone)[0] == 200
    status, _h, raw = _get(stack, "everyone", limit="2")
    first = json.loads(raw)
    assert (status, first["count"], [m["customer_id"] for m in first["members"]]) == (200, 3, ["c0", "c1"])
    _get(stack, "everyone", refresh="true")
    status, _h, raw = _get(stack, "everyone", cursor=first["next"])
    assert (status, json.loads(raw)["error"]["field"]) == (410, "cursor")
    for name, value in (("limit", "0"), ("limit", "501"), ("refresh", "maybe"), ("cursor", "xyz")):
        status, _h, raw = _get(stack, "everyone", **{name: value})
        assert (status, json.loads(raw)["error"]["field"]) == (400, name), value
    assert _get(stack, "nobody")[0] == 404


def test_before_the_first_snapshot_the_members_route_says_so_with_retry_after(stack: Any) -> None:
    _push(stack, ROOT / "audiences" / "examples" / "tea-buyers.yaml")
    status, headers, raw = _get(stack, "tea-buyers")
    body = json.loads(raw)
    assert (status, headers.get("retry-after"), body["status"]) == (503, "300", "waiting_for_snapshot")
    assert body["snapshot"]["next_due_at"] == "2026-01-01T09:00:00.000Z"  # a new stack's first run is due at once


def test_a_failed_evaluation_answers_502_with_athenas_reason(stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    _snapshot(stack)
    _push(stack, ROOT / "audiences" / "examples" / "tea-buyers.yaml")
    with stack.aws_lock:  # an operator removed the run's table by hand
        tables = client("glue").get_tables(DatabaseName=stack.catalog.audience_database)["TableList"]
        for table in tables:
            if table["Name"].startswith("order_items_r"):
                client("glue").delete_table(DatabaseName=stack.catalog.audience_database, Name=table["Name"])
    status, _h, raw = _get(stack, "tea-buyers")
    body = json.loads(raw)
    assert (status, body["status"]) == (502, "failed") and "TABLE_NOT_FOUND" in body["reason"]


def test_athena_reads_with_the_callers_rights(stack: Any) -> None:
    """The API's role may read the audience tables, not the archive: a query of it fails as in AWS."""
    from nudgeloop.adapters import athena

    post_events(stack, [upsert("r1")])
    stack.settle()
    _snapshot(stack)
    with stack.aws_lock, stack.enforcer.acting_as("ingest_api"):
        denied = athena.status(athena.start("SELECT count(*) FROM raw_events"))
        allowed = athena.status(athena.start("SELECT count(*) FROM customers"))
    assert denied.state == "FAILED" and "s3:GetObject" in denied.reason and "archive/events/" in denied.reason
    assert allowed.state == "SUCCEEDED"


def test_daily_runs_replace_the_tables_and_drop_the_run_before_the_previous(stack: Any) -> None:
    from nudgeloop.adapters.aws import client

    post_events(stack, [upsert("d1")])
    stack.settle()
    first = _snapshot(stack)["current"]["run"]
    stack.advance(timedelta(days=2))  # the runs of 02:00 on the 2nd and the 3rd
    with stack.aws_lock:
        names = {t["Name"] for t in client("glue").get_tables(DatabaseName=stack.catalog.audience_database)["TableList"]}
        from nudgeloop.services import audience_snapshot

        current = audience_snapshot.status()["current"]
    assert current["run"] == "r20260103t020000"
    assert f"customers_{first}" not in names and "customers_r20260102t020000" in names and "customers_r20260103t020000" in names
    assert "customers" in names and "raw_events" in names


def test_a_sweep_that_dies_after_starting_a_query_is_continued_by_the_next(tmp_path: Path) -> None:
    from nudgeloop.services import audience_snapshot
    from nudgeloop_cli.local.runtime import LocalStack

    local = LocalStack(
        clock_mode="simulated",
        start=START,
        api_key="local-admin-key-for-development",
        faults="audience_snapshot:crash-after=athena.StartQueryExecution@3",
    )
    local.start()
    try:
        post_events(local, [upsert("k1"), order("k1", "o1")])
        local.settle()
        local.advance(timedelta(minutes=12))
        with local.aws_lock:
            status = audience_snapshot.status()
        assert local.faults.injected == {"audience_snapshot:crash-after=athena.StartQueryExecution@3": 1}
        assert status["current"] is not None and status["last_error"] is None, status
        assert status["current"]["run"] == "r20260101t090500"  # the run the crash interrupted, finished
    finally:
        local.stop()
