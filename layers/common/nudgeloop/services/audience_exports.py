"""One-off audience exports: ``POST /v1/audiences/{id}/exports`` starts one, the export function
finishes it, ``GET /v1/audiences/{id}/exports/{export_id}`` answers how it went and a
time-limited link to the file.

1. The request is checked (format, columns: ``domain/audience_exports``), the audience compiled
   at this instant and wrapped in the export query, which Athena runs over the current snapshot's
   tables; the record is saved and the export function invoked asynchronously.
2. The function waits for the query (continuing in a new invocation when its own time runs out),
   then streams Athena's CSV result into the file the marketer asked for, under
   ``audience-exports/<audience>/<export id>.<csv|jsonl>``, in parts (``adapters/objects``).
   Written twice (a retried invocation), the file is the same: the result is Athena's, kept.
3. The record says ``running``, ``succeeded`` (rows, bytes, the link) or ``failed`` (why). One
   that has been running for longer than ``STALE_AFTER`` is reported failed: its invocation gave
   up (its event is in the failures queue).
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import athena, objects
from nudgeloop.adapters.aws import client
from nudgeloop.config import settings
from nudgeloop.dal import jobs
from nudgeloop.domain import audience_exports as rules
from nudgeloop.domain import audience_memberships as membership_rules
from nudgeloop.layout import AUDIENCE_EXPORTS_PREFIX
from nudgeloop.services import audience_members, audience_snapshot, audiences
from nudgeloop.services.audience_members import Answer

LINK_SECONDS = 3600  # how long a download link works
STALE_AFTER = timedelta(minutes=30)


def _keep() -> timedelta:
    """An export's record is kept as long as its file (the ``audience_export_days`` retention)."""
    return timedelta(days=settings().audience_export_days)


RETRY_AFTER_S = 5
MARGIN_S = 60  # of an invocation's time, left for writing the file's last part and the record
MEMBERSHIP = rules.ExportRequest(format="csv", columns=("customer_id",))  # a membership job's: no file is written
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def request(bucket: str, audience_id: str, body: dict[str, Any]) -> Answer:
    """Start an export of the saved audience ``audience_id`` (202), or say why not."""
    try:
        asked = rules.parse_request(body)
    except rules.InvalidExport as exc:
        return Answer(400, {"error": {"field": exc.field, "reason": exc.reason}})
    found = audience_members.evaluable(bucket, audience_id)
    if isinstance(found, Answer):
        return found
    saved, snapshot = found
    record = start(saved, snapshot, asked, uuid.uuid4().hex[:16])
    return Answer(202, view(record or {}), retry_after_s=RETRY_AFTER_S)  # a fresh id: started


def start(
    saved: dict[str, Any],
    snapshot: dict[str, Any],
    asked: rules.ExportRequest,
    export_id: str,
    publication: dict[str, Any] | None = None,
    membership: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Start the export ``export_id`` of the saved audience over ``snapshot`` (its query in
    Athena, its record, the export function invoked): the record, None if that export exists already.
    A ``publication`` (id, day, key) names where its file goes (``services/audience_publications``);
    a ``membership`` job (run, baseline) applies the changes of the audience's memberships instead
    of writing a file (``services/audience_memberships``)."""
    from nudgeloop.domain.audience_sql import compile_audience  # sqlglot: off the API's cold start

    at = clock.now()
    members = compile_audience(audiences.parse(saved["text"]), at)
    selected = (
        membership_rules.changes_query(members, saved["id"]) if membership else rules.export_query(members, asked.columns, at)
    )
    query = selected.for_athena(audience_snapshot.run_tables(snapshot["run"]))
    record: dict[str, Any] = {
        "export_id": export_id,
        "audience_id": saved["id"],
        "version": saved["version"],
        "format": asked.format,
        "columns": list(membership_rules.COLUMNS if membership else asked.columns),
        "requested_at": clock.iso(at),
        "evaluated_at": clock.iso(at),
        "state_as_of": snapshot["exported_at"],
        "status": "running",
    }
    if publication is not None:
        record["publication"] = publication
    if membership is not None:
        record["membership"] = membership
    if jobs.export(saved["id"], export_id) is not None:
        return None  # started before (a sweep that ran again): no second query
    record["query"] = athena.start(query)
    if not jobs.save_export(saved["id"], export_id, record, _keep(), only_new=True):
        return None  # pragma: no cover - a concurrent start won between the read and the write
    invoke(settings().audience_export_function, {"audience_id": saved["id"], "export_id": export_id})
    return record


def invoke(function: str, event: dict[str, Any]) -> None:
    client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event))


def run(audience_id: str, export_id: str, deadline: float) -> str:
    """Finish the export (the export function): returns its status, ``running`` if the query was
    still running at ``deadline`` (``time.monotonic()``), to be continued."""
    record = jobs.export(audience_id, export_id)
    if record is None or record["status"] != "running":
        return record["status"] if record else "gone"
    found = athena.wait(record["query"], until=deadline - MARGIN_S)
    if found.running:
        return "running"
    if found.state != "SUCCEEDED":
        record.update(status="failed", reason=found.reason or found.state, finished_at=clock.iso(clock.now()))
    elif record.get("membership"):
        from nudgeloop.services import audience_memberships

        if not audience_memberships.apply(record, found.output, deadline - MARGIN_S):
            jobs.save_export(audience_id, export_id, record, _keep())  # the rows applied: the next invocation goes on
            return "running"
        record.update(status="succeeded", finished_at=clock.iso(clock.now()))
    else:
        publication = record.get("publication")
        key = publication["key"] if publication else f"{AUDIENCE_EXPORTS_PREFIX}{audience_id}/{export_id}.{record['format']}"
        rows, size = write(found.output, settings().data_bucket, key, record["format"], tuple(record["columns"]))
        record.update(status="succeeded", key=key, rows=rows, bytes=size, finished_at=clock.iso(clock.now()))
        if publication:  # copied to latest and announced before it is recorded done: a retry does both again
            from nudgeloop.services import audience_publications

            audience_publications.finish(record, settings().data_bucket)
    jobs.save_export(audience_id, export_id, record, _keep())
    return str(record["status"])


def write(result: str, bucket: str, key: str, kind: str, columns: tuple[str, ...]) -> tuple[int, int]:
    """Athena's CSV result (``s3://bucket/key``) as the export's file; returns (rows, bytes)."""
    source_bucket, _, source_key = result.removeprefix("s3://").partition("/")
    types = rules.kinds(columns)
    rows = objects.csv_rows(source_bucket, source_key)
    header = next(rows, None)
    if header is not None and tuple(header) != columns:  # pragma: no cover - the query names them
        raise RuntimeError(f"the export query's columns are {header}, not {list(columns)}")
    count = 0
    with objects.ObjectWriter(bucket, key, rules.FORMATS[kind]) as out:
        text = io.StringIO()
        writer = csv.writer(text)
        if kind == "csv":
            writer.writerow(columns)
        for row in rows:
            if kind == "csv":
                writer.writerow([_cell(v, t) for v, t in zip(row, types, strict=True)])
            else:
                text.write(json.dumps(dict(zip(columns, (_json(v, t) for v, t in zip(row, types, strict=True)), strict=True))))
                text.write("\n")
            count += 1
            if text.tell() >= objects.PART_BYTES:
                out.write(text.getvalue().encode())
                text.seek(0)
                text.truncate()
        out.write(text.getvalue().encode())
    return count, out.size


def _cell(value: str, kind: str) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is kept as text (OWASP)."""
    return "'" + value if kind == "text" and value.startswith(FORMULA_STARTS) else value


def _json(value: str, kind: str) -> Any:
    """Athena writes NULL as an empty field: absent values are null in JSON lines."""
    if value == "":
        return None
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def listing(audience_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The audience's exports and publications, newest first (what each was, how it went; the
    links are in each export's own answer). Raises ``cursors.BadCursor``."""
    from nudgeloop.services import cursors

    name = f"audience-exports:{audience_id}"
    after = cursors.decode(cursor, name)
    rows = sorted(jobs.exports(audience_id), key=lambda r: (r["requested_at"], r["export_id"]), reverse=True)
    if after is not None:
        rows = [r for r in rows if (r["requested_at"], r["export_id"]) < after]
    page = [_stale(r) for r in rows[:limit]]
    last = (page[-1]["requested_at"], page[-1]["export_id"]) if len(rows) > limit else None
    return {"exports": [view(r) for r in page], "next": cursors.encode(name, last)}


def _stale(record: dict[str, Any]) -> dict[str, Any]:
    """A record still running long after its request is reported failed (its invocation gave up)."""
    if record["status"] == "running" and clock.now() - clock.parse_iso(record["requested_at"]) > STALE_AFTER:
        record.update(status="failed", reason="the export job did not finish (its invocation is in the failures queue)")
    return record


def status(data_bucket: str, audience_id: str, export_id: str) -> Answer:
    record = jobs.export(audience_id, export_id)
    if record is None:
        return Answer(404, {"error": {"field": "export_id", "reason": "no such export (exports are kept 7 days)"}})
    record = _stale(record)
    if record["status"] == "running":
        return Answer(202, view(record), retry_after_s=RETRY_AFTER_S)
    return Answer(200, view(record, data_bucket))


def view(record: dict[str, Any], bucket: str = "") -> dict[str, Any]:
    """What an answer says of an export (with a fresh download link once it has a file)."""
    shown = {k: record[k] for k in ("export_id", "audience_id", "version", "format", "columns", "status", "requested_at")}
    shown.update(evaluated_at=record["evaluated_at"], state_as_of=record["state_as_of"])
    for optional in ("rows", "bytes", "finished_at", "reason"):
        if optional in record:
            shown[optional] = record[optional]
    for kind in ("publication", "membership"):
        if kind in record:
            shown[kind] = record[kind]
    if record["status"] == "succeeded" and bucket and "key" in record:
        shown["download"] = link(bucket, record["key"], f"{record['audience_id']}-{record['key'].rsplit('/', 1)[-1]}")
    return shown


def link(bucket: str, key: str, file_name: str) -> dict[str, str]:
    """A download link to ``key`` for ``LINK_SECONDS``, saving it as ``file_name``."""
    expires = clock.now() + timedelta(seconds=LINK_SECONDS)
    url = client("s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{file_name}"'},
        ExpiresIn=LINK_SECONDS,
    )
    return {"url": url, "expires_at": clock.iso(expires)}


def remaining(context_ms: int) -> float:
    """An invocation's deadline as ``time.monotonic()``."""
    return time.monotonic() + context_ms / 1000
