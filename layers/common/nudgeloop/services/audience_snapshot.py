"""The audience snapshot: the audience tables (``domain/audience_schema.TABLES``) built in AWS as
Parquet by Athena from what the stack keeps in S3, once a day (docs/audiences.md).

A run, advanced by each invocation of ``audience_snapshot`` (its sweep, every few minutes):

1. **exporting**: DynamoDB exports the customers table and the recommendations read model
   (``ExportTableToPointInTime``: as of one instant, no read capacity used) under
   ``exports/<table>/<run>/``. Exports take minutes; each sweep looks whether they are done.
2. **deriving**: the raw tables are pointed at the exports' data files (``raw_events`` is the
   archive, always the same), then one CTAS per derivation (``audience_sources.order()``) into
   Parquet under ``audience-tables/<run>/<table>/``, each reading the run's earlier tables.
3. **current**: the run's tables become the ones audiences read. Evaluations name the run's
   tables (``run_tables``), so one evaluation never mixes two runs; the tables under their plain
   names (``customers``, ``orders`` ...) are switched to the run's data for BI tools. The run
   before the previous one is dropped from the catalog; its objects expire (``catalog.expirations``).

A failed export or query ends the run (``last_error``); the next one starts an hour later.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import athena
from nudgeloop.adapters.aws import client
from nudgeloop.config import settings
from nudgeloop.dal import jobs
from nudgeloop.domain import audience_sources
from nudgeloop.domain.audience_schema import TABLES
from nudgeloop.layout import ARCHIVE_PREFIX, AUDIENCE_TABLES_PREFIX, EXPORTS_PREFIX

JOB = "audience-snapshot"
EXPORTED = {"raw_customers": "customers", "raw_recs": "recs"}  # raw table -> the stack table it is exported from
RETRY_AFTER = timedelta(hours=1)
_TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


def export_prefix(table_key: str, run: str) -> str:
    return f"{EXPORTS_PREFIX}{table_key}/{run}/"


def start_exports(bucket: str, table_arns: dict[str, str], run: str) -> dict[str, str]:
    """Start an export of each exported table into ``bucket``; returns raw table -> export ARN."""
    ddb = client("dynamodb")
    started = {}
    for raw, table_key in EXPORTED.items():
        answer = ddb.export_table_to_point_in_time(
            TableArn=table_arns[table_key],
            S3Bucket=bucket,
            S3Prefix=export_prefix(table_key, run).rstrip("/"),
            ExportFormat="DYNAMODB_JSON",
        )
        started[raw] = answer["ExportDescription"]["ExportArn"]
    return started


def exports_status(export_arns: dict[str, str]) -> dict[str, str]:
    """Each export's status: IN_PROGRESS, COMPLETED or FAILED."""
    ddb = client("dynamodb")
    return {raw: ddb.describe_export(ExportArn=arn)["ExportDescription"]["ExportStatus"] for raw, arn in export_arns.items()}


def _keys(bucket: str, prefix: str) -> list[str]:
    found: list[str] = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".gz")]
    return sorted(found)


def raw_objects(bucket: str, run: str) -> dict[str, list[str]]:
    """The keys each raw table reads: every archive object, and the data files of this run's exports."""
    objects = {"raw_events": _keys(bucket, ARCHIVE_PREFIX)}
    for raw, table_key in EXPORTED.items():
        objects[raw] = [k for k in _keys(bucket, export_prefix(table_key, run)) if "/data/" in k]
    return objects


# ---------------------------------------------------------------------- when a run is due


def next_due(state: dict[str, Any] | None, at: str) -> datetime:
    """When the job has work: now while a run is under way or asked for; else the first ``at``
    (HH:MM, UTC) after the last run started, or the hour after a failed one."""
    now = clock.now()
    state = state or {}
    if state.get("pending") or state.get("requested") or not state.get("last_started_at"):
        return now
    hour, minute = (int(part) for part in at.split(":"))
    last = clock.parse_iso(state["last_started_at"])
    due = last.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due <= last:
        due += timedelta(days=1)
    if state.get("last_error") and state.get("failed_at"):
        due = min(due, clock.parse_iso(state["failed_at"]) + RETRY_AFTER)
    return due


def request(*, erasures: bool = False) -> dict[str, Any]:
    """Ask for a run on the next sweep (``nudgeloop audiences snapshot``); ``erasures``: an
    erasure's first pass is done and its second waits for the run (``services/erasure``)."""
    state = jobs.run_state(JOB) or {}
    state["requested"] = True
    if erasures:
        state["erasures"] = True
    jobs.save_run_state(JOB, state)
    return status()


def status() -> dict[str, Any]:
    """The job's state: the current run (the tables audiences read), the one under way, the last error."""
    state = jobs.run_state(JOB) or {}
    return {
        "current": state.get("current"),
        "pending": state.get("pending"),
        "last_error": state.get("last_error"),
        "next_due_at": clock.iso(next_due(state, settings().audience_snapshot_at)),
    }


def current() -> dict[str, Any] | None:
    """The run audiences read now (``run``, ``exported_at``, ``built_at``), or None before the first."""
    state = jobs.run_state(JOB) or {}
    return state.get("current")  # type: ignore[no-any-return]


# older than this, the snapshot's tables may be expiring (catalog.expirations: 7 days)
MAX_SNAPSHOT_AGE = timedelta(days=6)


def usable() -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The current run if audiences may read it, else None and why not (the 503 body of the
    routes that read it: no snapshot yet, or one that is too old)."""
    snapshot = current()
    if snapshot is not None and clock.now() - clock.parse_iso(snapshot["built_at"]) <= MAX_SNAPSHOT_AGE:
        return snapshot, {}
    reason = "no audience snapshot yet" if snapshot is None else "the audience snapshot is older than 6 days"
    return None, {"status": "waiting_for_snapshot", "reason": reason, "snapshot": status()}


def run_tables(run: str) -> dict[str, str]:
    """Each raw, intermediate and audience table -> its name in ``run``."""
    names = {name: f"{name}_{run}" for name in (*audience_sources.order(), *EXPORTED)}
    return {**names, "raw_events": "raw_events"}


# ---------------------------------------------------------------------- the run


def advance(deadline: float) -> tuple[dict[str, Any], bool]:
    """Take the job as far as it goes before ``deadline`` (``time.monotonic()``) without waiting
    for the exports; returns the state saved, and whether a run's tables became current."""
    s = settings()
    state = jobs.run_state(JOB) or {}
    now = clock.now()
    pending = state.get("pending")
    if pending is None:
        if next_due(state, s.audience_snapshot_at) > now:
            return state, False
        pending = _begin(s.data_bucket, now)
        state.update(pending=pending, requested=False, last_started_at=clock.iso(now))
        jobs.save_run_state(JOB, state)
    try:
        finished = _continue(pending, deadline, lambda: jobs.save_run_state(JOB, state))
    except _RunFailed as failed:
        state.update(pending=None, last_error=str(failed), failed_at=clock.iso(clock.now()))
        jobs.save_run_state(JOB, state)
        raise
    if finished:
        previous = state.get("current")
        state.update(
            pending=None,
            last_error=None,
            current={"run": pending["run"], "exported_at": pending["started_at"], "built_at": clock.iso(clock.now())},
            previous=previous,
        )
        older = state.get("retired")
        if older:
            _drop(older)
        state["retired"] = previous["run"] if previous else None
    jobs.save_run_state(JOB, state)
    return state, finished


class _RunFailed(Exception):
    pass


def _begin(bucket: str, now: datetime) -> dict[str, Any]:
    run = "r" + now.strftime("%Y%m%dt%H%M%S")
    ddb = client("dynamodb")
    s = settings()
    arns = {
        key: ddb.describe_table(TableName=name)["Table"]["TableArn"]
        for key, name in (("customers", s.customers_table), ("recs", s.recs_table))
    }
    return {
        "run": run,
        "phase": "exporting",
        "started_at": clock.iso(now),
        "exports": start_exports(bucket, arns, run),
        "step": 0,
    }


def _continue(pending: dict[str, Any], deadline: float, save: Any) -> bool:
    """One sweep's share of the run; True when its tables are current. The state is saved
    (``save``) as each query starts and ends, so a sweep that dies goes on where it was."""
    s = settings()
    if pending["phase"] == "exporting":
        exported = exports_status(pending["exports"])
        if "FAILED" in exported.values():
            raise _RunFailed(f"a DynamoDB export failed: {exported}")
        if set(exported.values()) != {"COMPLETED"}:
            return False
        _point_raw_tables(s.data_bucket, s.audience_database, pending["run"])
        pending["phase"] = "deriving"
    names = run_tables(pending["run"])
    steps = audience_sources.order()
    while pending["step"] < len(steps):
        table = steps[pending["step"]]
        if not pending.get("query"):
            # a start whose id was never saved may have created the table: a fresh one, elsewhere
            _drop_table(s.audience_database, names[table])
            location = f"s3://{s.data_bucket}/{AUDIENCE_TABLES_PREFIX}{pending['run']}/{table}/{uuid.uuid4().hex[:8]}/"
            pending["query"] = athena.start(ctas(names[table], audience_sources.derivation(table, "athena", names), location))
            save()
        found = athena.wait(pending["query"], until=deadline)
        if found.running:
            return False
        if found.state != "SUCCEEDED":
            raise _RunFailed(f"deriving {table} failed: {found.state} {found.reason}")
        pending["step"] += 1
        pending["query"] = None
        save()
    _make_current(s.audience_database, names)
    return True


def ctas(name: str, select: str, location: str) -> str:
    """Athena's CREATE TABLE AS SELECT into Parquet (Snappy) at ``location``."""
    return (
        f"CREATE TABLE {name} WITH (format = 'PARQUET', write_compression = 'SNAPPY', "
        f"external_location = '{location}') AS {select}"
    )


def _raw_input(name: str, location: str, partition: str | None = None) -> dict[str, Any]:
    """A raw table's Glue definition: one string column, ``line``, the whole JSON line (a field
    delimiter that never occurs in JSON text), gzip read by its extension."""
    table: dict[str, Any] = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json-lines"},
        "StorageDescriptor": {
            "Columns": [{"Name": "line", "Type": "string"}],
            "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": _TEXT_SERDE, "Parameters": {"field.delim": "\x01"}},
        },
    }
    if partition:
        table["PartitionKeys"] = [{"Name": partition, "Type": "string"}]
        table["Parameters"].update(
            {
                "projection.enabled": "true",
                f"projection.{partition}.type": "date",
                f"projection.{partition}.format": "yyyy-MM-dd",
                f"projection.{partition}.range": "2000-01-01,NOW",
                "storage.location.template": f"{location}{partition}=${{{partition}}}/",
            }
        )
    return table


def _put_table(database: str, table: dict[str, Any]) -> None:
    glue = client("glue")
    try:
        glue.update_table(DatabaseName=database, TableInput=table)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table)


def _point_raw_tables(bucket: str, database: str, run: str) -> None:
    _put_table(database, _raw_input("raw_events", f"s3://{bucket}/{ARCHIVE_PREFIX}", partition="dt"))
    names = run_tables(run)
    for raw, table_key in EXPORTED.items():
        data = [k for k in _keys(bucket, export_prefix(table_key, run)) if "/data/" in k]
        folder = data[0].rsplit("/data/", 1)[0] + "/data/" if data else export_prefix(table_key, run) + "empty/"
        _put_table(database, _raw_input(names[raw], f"s3://{bucket}/{folder}"))


def _make_current(database: str, names: dict[str, str]) -> None:
    """The audience tables under their plain names (for BI tools) now read this run's data."""
    glue = client("glue")
    for table in TABLES:
        found = glue.get_table(DatabaseName=database, Name=names[table])["Table"]
        _put_table(
            database,
            {
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": found.get("Parameters", {}),
                "StorageDescriptor": found["StorageDescriptor"],
            },
        )


def _drop(run: str) -> None:
    """A run no evaluation names any more, out of the catalog (its objects expire)."""
    database = settings().audience_database
    for name in run_tables(run).values():
        if name != "raw_events":
            _drop_table(database, name)


def _drop_table(database: str, name: str) -> None:
    glue = client("glue")
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        glue.delete_table(DatabaseName=database, Name=name)


def sweep(remaining_ms: int) -> tuple[dict[str, Any], bool]:
    """The handler's work: advance, leaving a minute of the invocation for saving; then, once per
    current run, start the saved audiences' publications (``services/audience_publications``) and
    the membership evaluations of the audiences campaigns read (``services/audience_memberships``);
    and finish the erasures this run was exported after (``services/erasure.after_snapshot``)."""
    state, built = advance(time.monotonic() + max(0.0, remaining_ms / 1000 - 60))
    current = state.get("current")
    if current and state.get("published") != current["run"]:
        from nudgeloop.services import audience_memberships, audience_publications

        audience_publications.start_due(settings().campaigns_bucket, current)  # each once, whatever came before
        audience_memberships.start_due(settings().campaigns_bucket, current)
        state["published"] = current["run"]
        jobs.save_run_state(JOB, state)
    if current and state.get("erasures"):
        from nudgeloop.services import erasure

        # the second pass of the erasures whose first ended before this snapshot was exported
        _done, waiting = erasure.after_snapshot(settings().data_bucket, current, (state.get("pending") or {}).get("run"))
        if not waiting:
            state = jobs.run_state(JOB) or {}  # as the first passes may have changed it meanwhile
            state["erasures"] = False
            jobs.save_run_state(JOB, state)
            # a first pass that ended meanwhile saved its record before it set the flag: look again
            if erasure.waiting():
                state["erasures"] = True
                jobs.save_run_state(JOB, state)
    return state, built
