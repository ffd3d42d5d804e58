"""The embedded engine that stands in for Athena locally: DuckDB, in memory, holding the
audience tables (``domain/audience_schema.TABLES``) and running the compiled queries as they are.

The tables either come as rows (``DuckDBEngine(rows)``: the tests' hand-built data) or are derived
in SQL from the raw objects, as in AWS (``from_raw``, ``from_stack``: the local preview)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from nudgeloop.domain.audience_schema import TABLES

from .base import LocalError

if TYPE_CHECKING:
    from .runtime import LocalStack

EXPORT_WAIT_S = 30.0


class DuckDBEngine:
    """The audience tables in one in-memory DuckDB database."""

    def __init__(self, rows: dict[str, list[tuple[Any, ...]]] | None) -> None:
        """The tables filled with ``rows``; with None, no tables (``from_raw`` derives them)."""
        self.db = duckdb.connect(":memory:")
        if rows is None:
            return
        for name, columns in TABLES.items():
            self.db.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})")
            found = rows.get(name, [])
            if found:
                marks = ", ".join("?" for _ in columns)
                self.db.executemany(f"INSERT INTO {name} VALUES ({marks})", found)  # noqa: S608 - names from TABLES

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.execute(sql).fetchall()

    def close(self) -> None:
        self.db.close()


def from_raw(files: dict[str, list[str]]) -> DuckDBEngine:
    """The audience tables derived in SQL from the raw objects, as the AWS path derives them
    (``domain/audience_sources``): ``files`` maps each raw table to its local gzipped JSON-lines
    files (the archive's objects, DynamoDB's export files)."""
    from nudgeloop.domain import audience_sources

    engine = DuckDBEngine(None)
    db = engine.db
    for macro in audience_sources.JSON_MACROS:
        db.execute(macro)
    for raw in audience_sources.RAW_TABLES:
        paths = files.get(raw, [])
        if not paths:
            db.execute(f"CREATE TABLE {raw} (line VARCHAR)")
            continue
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        db.execute(
            f"CREATE TABLE {raw} AS SELECT line FROM read_csv([{listed}], columns={{'line': 'VARCHAR'}}, delim=chr(1), "  # noqa: S608 - local paths
            "quote='', escape='', header=false, compression='gzip', auto_detect=false)"
        )
    for name in audience_sources.order():
        db.execute(f"CREATE TABLE {name} AS {audience_sources.derivation(name)}")
    return engine


def from_stack(stack: LocalStack, workdir: Path, run: str | None = None) -> DuckDBEngine:
    """The audience tables of a running local stack as the AWS path derives them: DynamoDB's
    exports of the customers and recommendations tables started and awaited, the exports and the
    archive's objects read from the data bucket into ``workdir``, and derived in SQL."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.services import audience_snapshot

    assert stack.res is not None
    bucket = stack.res.buckets["data"]
    run = run or uuid.uuid4().hex
    with stack.aws_lock:
        ddb = client("dynamodb")
        arns = {
            key: ddb.describe_table(TableName=stack.catalog.table(key).name)["Table"]["TableArn"]
            for key in set(audience_snapshot.EXPORTED.values())
        }
        started = audience_snapshot.start_exports(bucket, arns, run)
    deadline = time.monotonic() + EXPORT_WAIT_S
    while True:  # moto runs each export on a thread of its own; DynamoDB takes minutes
        with stack.aws_lock:
            status = audience_snapshot.exports_status(started)
        if set(status.values()) == {"COMPLETED"}:
            break
        if "FAILED" in status.values() or time.monotonic() > deadline:
            raise LocalError(f"the audience exports did not complete: {status}")
        time.sleep(0.02)
    files: dict[str, list[str]] = {}
    with stack.aws_lock:
        s3 = client("s3")
        for raw, keys in audience_snapshot.raw_objects(bucket, run).items():
            files[raw] = []
            for n, key in enumerate(keys):
                path = workdir / f"{raw}-{n}.gz"
                path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                files[raw].append(str(path))
    return from_raw(files)
