"""DELETE /v1/customers/{id} (GDPR erasure, services/erasure): the person is gone from every table
and every S3 object of the stack, all versions, but for their address's hashed suppression entry;
their running journey is stopped; the counters keep their numbers; a later sign-up with the same
address is not mailed."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from tests.conftest import KEY, consent, order, post_events, upsert
from tests.integration.test_audience_exports import EVERYONE, _export, _finished
from tests.integration.test_audience_snapshot import _snapshot

WHO = "erase-me-7"
EMAIL = f"{WHO}@customers.example"
NAMES = ("Ingrid", "Zwolinska")
NEEDLES = (WHO, EMAIL, *NAMES)
READ = {"x-api-key": "local-read-key-for-development"}


def _text_of(body: bytes) -> str:
    """What an object says, whatever its form: gzip opened, Parquet read as rows."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    if body[:4] == b"PAR1":
        import tempfile

        import duckdb

        with tempfile.NamedTemporaryFile(suffix=".parquet") as f:
            f.write(body)
            f.flush()
            return json.dumps(duckdb.sql(f"SELECT * FROM read_parquet('{f.name}')").fetchall(), default=str)  # noqa: S608 - a temporary file
    return body.decode("utf-8", errors="replace")


def _findings(stack: Any) -> list[str]:
    """Every place of the stack (table items; S3 object versions) that names the person."""
    from nudgeloop.adapters.aws import client

    found: list[str] = []
    with stack.aws_lock:
        ddb = client("dynamodb")
        for spec in stack.catalog.tables:
            for page in ddb.get_paginator("scan").paginate(TableName=spec.name):
                for item in page["Items"]:
                    text = json.dumps(item)
                    found += [f"{spec.name}: {n} in {text[:160]}" for n in NEEDLES if n in text]
        s3 = client("s3")
        for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for version in page.get("Versions", []):
                    body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                    text = _text_of(body)
                    found += [f"s3://{bucket}/{version['Key']}: {n}" for n in NEEDLES if n in text]
    return found


def _counts(stack: Any) -> dict[str, Any]:
    """The campaign's counters, its entries, the staircase's flows of the last days."""
    from nudgeloop.dal import campaign_stats, step_tallies

    today = stack.clock.now().date()
    with stack.aws_lock:
        return {
            "welcome": campaign_stats.campaign_stats("welcome"),
            "entries": campaign_stats.campaign_entries("welcome"),
            "flows": [step_tallies.segment_flows(today - timedelta(days=d)) for d in range(3)],
        }


def _on_steps(stack: Any) -> dict[str, int]:
    from nudgeloop.dal import step_tallies

    with stack.aws_lock:
        return step_tallies.segment_counts()


def _erasure(stack: Any, erasure_id: str) -> dict[str, Any]:
    status, _h, raw = stack.api("GET", f"/v1/erasures/{erasure_id}", headers=KEY)
    assert status == 200, raw
    return json.loads(raw)  # type: ignore[no-any-return]


def test_an_erased_person_is_in_no_table_and_no_object_but_the_hashed_suppression_and_counts_stay(stack: Any) -> None:
    from nudgeloop.adapters.aws import client
    from nudgeloop.dal import deliverability

    person = upsert(WHO, first_name=NAMES[0], last_name=NAMES[1])
    post_events(stack, [person, consent(WHO), order(WHO, "o1"), upsert("stays-1"), consent("stays-1"), order("stays-1", "o2")])
    stack.settle()
    stack.advance(timedelta(hours=2))  # the welcome mails went; the journeys wait three days for the follow-up
    assert stack.api("PUT", "/v1/audiences/everyone", headers=KEY, body=EVERYONE)[0] == 200
    _snapshot(stack)
    status, _h, exported = _export(stack, {"format": "csv", "columns": ["email", "name"]})
    assert status == 202, exported
    assert _finished(stack, exported)["status"] == "succeeded"
    before = _findings(stack)
    # the person is everywhere the issue lists: events, consents, mails, the journey, the archive, an export
    for place in ("-events", "-customers", "-engine", "archive/events/", "sent/", "audience-exports/", "audience-tables/"):
        assert any(place in f for f in before), (place, before)
    with stack.aws_lock:
        sfn = client("stepfunctions")
        running = sfn.list_executions(stateMachineArn=stack.res.state_machine_arn, statusFilter="RUNNING")["executions"]
    assert len(running) == 2  # theirs and the other customer's welcome series
    counts, on_steps = _counts(stack), _on_steps(stack)

    status, _h, raw = stack.api("DELETE", f"/v1/customers/{WHO}", headers=READ)
    assert status == 403 and json.loads(raw)["needs"] == ["admin"]
    status, _h, raw = stack.api("DELETE", f"/v1/customers/{WHO}", headers=KEY)
    assert status == 202, raw
    answer = json.loads(raw)
    assert answer["status"] == "running" and answer["addresses_suppressed"] == 1 and answer["erasure_id"].startswith("er-")
    assert WHO not in raw and EMAIL not in raw
    requested = datetime.fromisoformat(answer["requested_at"])
    assert datetime.fromisoformat(answer["last_copy_gone_by"]) == requested + timedelta(days=90)  # Step Functions' history
    stack.settle()  # the first pass
    first = _erasure(stack, answer["erasure_id"])
    assert first["status"] == "awaiting_snapshot", first
    assert first["erased"]["customer"] == 1 and first["erased"]["journeys_stopped"] == 1 and first["erased"]["events"] >= 3
    assert first["erased"]["sent_mail_versions"] == 1 and first["erased"]["archive_lines"] >= 3
    for _ in range(12):  # the snapshot asked for, then the second pass
        stack.advance(timedelta(minutes=5))
        if _erasure(stack, answer["erasure_id"])["status"] == "complete":
            break
    done = _erasure(stack, answer["erasure_id"])
    assert done["status"] == "complete", done
    assert done["erased"]["snapshot_run_object_versions"] > 0 and done["erased"]["snapshot_export_rows"] >= 1

    assert _findings(stack) == []
    with stack.aws_lock:
        assert deliverability.suppression(EMAIL) == "erased"  # the one thing kept: by hash
        running = sfn.list_executions(stateMachineArn=stack.res.state_machine_arn, statusFilter="RUNNING")["executions"]
        aborted = sfn.list_executions(stateMachineArn=stack.res.state_machine_arn, statusFilter="ABORTED")["executions"]
    assert len(running) == 1 and len(aborted) == 1
    assert _counts(stack) == counts and counts["welcome"]["welcome"]["sent"] == 2
    # today's customers per step: one fewer on theirs (they are no customer any more)
    assert _on_steps(stack) == {**on_steps, "new": on_steps["new"] - 1}
    assert stack.api("GET", "/v1/customers/stays-1", headers=KEY)[0] == 200

    # asking again answers the erasure; nothing is held
    status, _h, raw = stack.api("DELETE", f"/v1/customers/{WHO}", headers=KEY)
    assert status == 200 and json.loads(raw)["status"] == "complete"
    # the same address signing up again is not mailed: the objection survives
    post_events(stack, [upsert("back-1", email=EMAIL), consent("back-1"), order("back-1", "o3")])
    stack.settle()
    stack.advance(timedelta(hours=2))
    with stack.aws_lock:
        from nudgeloop.dal import ledger

        [welcome] = [e for e in ledger.ledger("back-1") if e.key.startswith("welcome#welcome#")]
    assert welcome.status == "skipped:suppressed"


def test_erasing_someone_unknown_is_404(stack: Any) -> None:
    status, _h, raw = stack.api("DELETE", "/v1/customers/nobody", headers=KEY)
    assert status == 404 and json.loads(raw)["error"]["field"] == "customer_id"
    status, _h, raw = stack.api("GET", "/v1/erasures/er-0", headers=KEY)
    assert status == 404 and json.loads(raw)["error"]["field"] == "erasure_id"


@contextmanager
def _erasing_with(faults: str) -> Iterator[tuple[Any, str]]:
    """A stack with the fault plan, the person and another customer in one batch (so in the same
    archive object, which the erasure rewrites), and the erasure asked for: (stack, its id)."""
    from nudgeloop_cli.local.runtime import LocalStack
    from tests.conftest import START

    local = LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development", faults=faults)
    local.start()
    try:
        post_events(local, [upsert(WHO, first_name=NAMES[0], last_name=NAMES[1]), consent(WHO), upsert("stays-1")])
        local.settle()
        status, _h, raw = local.api("DELETE", f"/v1/customers/{WHO}", headers=KEY)
        assert status == 202, raw
        yield local, json.loads(raw)["erasure_id"]
    finally:
        local.stop()


def test_a_pass_that_dies_between_rewriting_an_archive_object_and_deleting_its_old_version_finishes_on_retry() -> None:
    rule = "erasure:crash-after=s3.PutObject@1"
    with _erasing_with(rule) as (local, erasure_id):
        local.settle()  # the pass dies right after the rewrite; Lambda runs it again
        assert local.faults.injected == {rule: 1}
        found = _erasure(local, erasure_id)
        assert found["status"] == "awaiting_snapshot" and found["erased"]["archive_lines"] >= 2, found
        assert _findings(local) == []
        assert local.api("GET", "/v1/customers/stays-1", headers=KEY)[0] == 200


def test_an_erasure_whose_every_attempt_died_is_failed_and_asked_again_goes_on_from_where_it_stopped() -> None:
    # the first attempt dies right after its archive rewrite (no except runs), the two retries
    # fail before the handler runs
    rules = "erasure:crash-after=s3.PutObject@1,erasure:raise@2,erasure:raise@2"  # a rule counts what reaches it
    with _erasing_with(rules) as (local, erasure_id):
        local.settle()
        assert sum(local.faults.injected.values()) == 3, (local.faults.injected, _erasure(local, erasure_id))
        assert _erasure(local, erasure_id)["status"] == "running"  # Lambda may still be trying
        local.advance(timedelta(hours=6, minutes=16))  # longer than Lambda keeps an event, and a run
        stopped = _erasure(local, erasure_id)
        assert stopped["status"] == "failed" and "stopped" in stopped["error"], stopped
        status, _h, raw = local.api("DELETE", f"/v1/customers/{WHO}", headers=KEY)
        assert status == 202 and json.loads(raw)["status"] == "running", raw
        local.settle()  # from where it stopped: the tables were done; the archive's day is finished now
        done = _erasure(local, erasure_id)
        assert done["status"] == "awaiting_snapshot" and done["erased"]["customer"] == 1, done
        assert _findings(local) == []
