"""Bulk import of POS/till and CRM exports: CSV or JSON-lines files dropped under ``imports/``.

A file is read as a stream (never loaded whole) and fed, 100 rows at a time, through the very
path the HTTP API uses (:func:`nudgeloop.services.ingest.accept_batch`): the same validation,
the same store-once de-duplication, the same processing afterwards. When the file is done a
report is written next to it (``<file>.report.json``): rows read, accepted, duplicates, and the
rejected rows with their line numbers, fields and reasons.

Row formats
- ``.jsonl``: one event per line, exactly as ``POST /v1/events`` takes it.
- ``.csv`` (UTF-8, header row): the columns ``type``, ``customer_id``, ``occurred_at``,
  ``event_id`` and ``source`` fill the event; every other column is a property. A dotted column
  (``attributes.tier``) nests; a cell holding a JSON array or object (``items``) is parsed; an
  empty cell is left out.
- A path segment ``type=<event type>`` (``imports/type=order.completed/till-2026-11-23.csv``)
  sets the type of rows that have no ``type`` column or cell.

Progress is checkpointed per chunk in the engine table, so a file larger than one Lambda run
continues in the next (a continuation message) and a crashed run resumes where it stopped; a
file already imported is not imported again when S3 repeats its notification.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.dal import jobs
from nudgeloop.layout import IMPORT_PREFIX, IMPORT_SUFFIXES
from nudgeloop.services.ingest import BadRequest, accept_batch, parse_json

CHUNK = 100  # rows per accept_batch call (the API's batch limit)
MAX_REJECTIONS_KEPT = 500  # listed in the report with line numbers; all are counted
MAX_LINE_BYTES = 200_000
HEAD_FIELDS = ("type", "customer_id", "occurred_at", "event_id", "source")
REPORT_SUFFIX = ".report.json"
_TYPE_SEGMENT = re.compile(r"(?:^|/)type=([A-Za-z0-9._\-]+)/")


class FileRejected(ValueError):
    """The file as a whole cannot be read (encoding, format, header)."""


@dataclass(frozen=True)
class ImportFile:
    bucket: str
    key: str
    etag: str
    version_id: str | None = None  # set when the bucket is versioned (ours is)
    size: int = 0

    @property
    def version(self) -> str:
        """Which content this is (the ETag): changed content under the same key is a new import;
        the same content again (or a repeated notification) is not."""
        return self.etag.strip('"') or "-"

    @property
    def kind(self) -> str:
        return next(s for s in IMPORT_SUFFIXES if self.key.endswith(s)).lstrip(".")

    @property
    def default_type(self) -> str | None:
        found = _TYPE_SEGMENT.search(self.key)
        return found.group(1) if found else None

    @property
    def report_key(self) -> str:
        return self.key + REPORT_SUFFIX


@dataclass
class Progress:
    rows: int = 0  # data rows read so far (the header is not a row)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def reject(self, line: int, field_name: str, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append({"line": line, "field": field_name, "reason": reason})


def files_in(body: dict[str, Any]) -> list[ImportFile]:
    """The import files an invocation names: an S3 notification, or our own continuation."""
    if "continue" in body:
        c = body["continue"]
        return [ImportFile(c["bucket"], c["key"], c["etag"], c.get("version_id"), int(c.get("size", 0)))]
    files = []
    for record in body.get("Records", []):  # S3 sends "s3:TestEvent" (no Records) once: nothing to do
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
        if not key.startswith(IMPORT_PREFIX) or not key.endswith(IMPORT_SUFFIXES):
            continue
        files.append(
            ImportFile(record["s3"]["bucket"]["name"], key, obj.get("eTag", ""), obj.get("versionId"), int(obj.get("size", 0)))
        )
    return files


class _Raw(io.RawIOBase):
    """A botocore StreamingBody as a raw stream (so io/csv can read it incrementally)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _text(body: Any) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedReader(_Raw(body), 256 * 1024), encoding="utf-8-sig", newline="")


def _cell(value: str) -> Any:
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return parse_json(stripped.encode())
        except BadRequest:
            return value
    return value


def _csv_rows(stream: io.TextIOWrapper, default_type: str | None) -> Iterator[tuple[int, Any]]:
    """(line number, raw event or an error string) per data row."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    if "customer_id" not in header or "occurred_at" not in header:
        raise FileRejected("the header must name at least the columns customer_id and occurred_at")
    if "type" not in header and default_type is None:
        raise FileRejected("no type column, and no type=<event type> segment in the file's path")
    if len(set(header)) != len(header):
        raise FileRejected("the header names a column twice")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"malformed CSV: {exc}"
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            yield line, f"expected {len(header)} cells, found {len(cells)}"
            continue
        event: dict[str, Any] = {"source": "import"}
        properties: dict[str, Any] = {}
        for name, value in zip(header, cells, strict=True):
            if value == "":
                continue
            if name in HEAD_FIELDS:
                event[name] = value.strip()
                continue
            target = properties
            *parents, leaf = name.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = _cell(value)
        event.setdefault("type", default_type)
        event["properties"] = properties
        yield line, event


def _jsonl_rows(stream: io.TextIOWrapper, default_type: str | None) -> Iterator[tuple[int, Any]]:
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        if len(text) > MAX_LINE_BYTES:
            yield line, f"a line may be at most {MAX_LINE_BYTES} bytes"
            continue
        try:
            event = parse_json(text.encode() if isinstance(text, str) else text)
        except BadRequest as exc:
            yield line, exc.reason
            continue
        if isinstance(event, dict):
            event.setdefault("source", "import")
            if default_type is not None:
                event.setdefault("type", default_type)
        yield line, event


def _row_field(field_path: str) -> str:
    """``events[7].properties.total`` -> ``properties.total`` (the report names the row by line)."""
    return re.sub(r"^events\[\d+\]\.?", "", field_path) or "row"


def _flush(chunk: list[tuple[int, Any]], progress: Progress, max_future_skew_s: int) -> None:
    lines = [line for line, _ in chunk]
    result = accept_batch([event for _, event in chunk], max_future_skew_s)
    progress.accepted += len(result.accepted)
    progress.duplicates += len(result.duplicates)
    for rejection in result.rejected:
        progress.reject(lines[rejection.index], _row_field(rejection.field), rejection.reason)


def run(
    file: ImportFile,
    max_future_skew_s: int,
    *,
    time_left_ms: Callable[[], int],
    continue_later: Callable[[ImportFile], None],
    reserve_ms: int = 60_000,
) -> dict[str, Any] | None:
    """Import one file (or its next part); returns the report when the file is done.

    Rows up to the checkpoint are skipped (read, not stored again). When ``time_left_ms`` drops
    under ``reserve_ms`` the progress is saved and ``continue_later`` asks for another run.
    """
    state = jobs.import_state(file.key, file.version) or {}
    if state.get("status") == "done":
        return None  # S3 repeated its notification: the report already stands
    progress = Progress.from_dict(state.get("progress", {}))
    progress.started_at = progress.started_at or clock.iso(clock.now())
    skip = progress.rows
    s3 = aws.client("s3")
    try:
        obj = s3.get_object(Bucket=file.bucket, Key=file.key, **_version_arg(file))
    except s3.exceptions.NoSuchKey:
        return None  # deleted before we got to it: nothing to import, nothing to report on
    reader = _csv_rows if file.kind == "csv" else _jsonl_rows
    status = "done"
    error: str | None = None
    chunk: list[tuple[int, Any]] = []
    try:
        for index, (line, row) in enumerate(reader(_text(obj["Body"]), file.default_type)):
            if index < skip:
                continue
            progress.rows += 1
            if isinstance(row, str):
                progress.reject(line, "row", row)
            else:
                chunk.append((line, row))
            if len(chunk) >= CHUNK:
                _flush(chunk, progress, max_future_skew_s)
                chunk = []
                if progress.rows % (CHUNK * 10) == 0:
                    jobs.save_import_state(file.key, file.version, "running", {"progress": progress.as_dict()})
                if time_left_ms() < reserve_ms:
                    jobs.save_import_state(file.key, file.version, "running", {"progress": progress.as_dict()})
                    continue_later(file)
                    return None
        if chunk:
            _flush(chunk, progress, max_future_skew_s)
        progress.rejections.sort(key=lambda r: int(r["line"]))
    except FileRejected as exc:
        status, error = "rejected", str(exc)
    except UnicodeDecodeError as exc:
        status, error = "rejected", f"the file is not UTF-8 text (byte {exc.start} of a read block)"
    report = {
        "file": f"s3://{file.bucket}/{file.key}",
        "version": file.version,
        "status": status,
        **({"error": error} if error else {}),
        **progress.as_dict(),
        "rejections_listed": min(progress.rejected, MAX_REJECTIONS_KEPT),
        "finished_at": clock.iso(clock.now()),
    }
    s3.put_object(
        Bucket=file.bucket,
        Key=file.report_key,
        Body=json.dumps(report, indent=2).encode(),
        ContentType="application/json",
    )
    jobs.save_import_state(file.key, file.version, "done", {"progress": progress.as_dict(), "status": status})
    return report


def status(s3: Any, bucket: str, key: str, version: str) -> dict[str, Any]:
    """Where an import file stands: its checkpointed progress, and its report once done
    (what `nudgeloop import` follows)."""
    state = jobs.import_state(key, version) or {}
    report = None
    if state.get("status") == "done":
        report = json.loads(s3.get_object(Bucket=bucket, Key=key + REPORT_SUFFIX)["Body"].read())
    return {"status": state.get("status", "queued"), "progress": state.get("progress", {}), "report": report}


def _version_arg(file: ImportFile) -> dict[str, str]:
    """Read exactly the upload that was notified: by version, or else by ETag."""
    if file.version_id:
        return {"VersionId": file.version_id}
    return {"IfMatch": file.etag} if file.etag else {}


def continuation(file: ImportFile) -> dict[str, Any]:
    """The event that asks for the next part of a file (the function invokes itself with it)."""
    return {
        "continue": {
            "bucket": file.bucket,
            "key": file.key,
            "etag": file.etag,
            "version_id": file.version_id,
            "size": file.size,
        }
    }
