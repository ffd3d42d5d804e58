"""Athena, locally: moto keeps the workgroups and the Glue Data Catalog; this engine runs the
queries, which moto does not (its executions succeed with no rows). An embedded engine where AWS
uses a managed one: DuckDB, over the objects in moto's S3, with Athena's SQL transpiled by sqlglot.

What it does as Athena does (and what ``docs/operations.md`` lists as not done):

- **The caller's permissions.** Athena reads the catalog and S3 with the credentials of whoever
  started the query. Here the engine makes those reads as AWS calls on the caller's thread, so the
  local runtime checks them against the caller's role like any call (``fidelity.py``): a table the
  role may not ``glue:GetTable``, an object it may not ``s3:GetObject``, an output location it may
  not ``s3:PutObject`` fail the query (``FAILED``, with the reason AWS gives), not the API call.
- **Tables from the catalog.** A table is read from its Glue definition: its location (every
  object under it, subfolders too, except names starting with ``_`` or ``.``), its format (text
  with a field delimiter, or Parquet), its columns, and Hive partitions from ``key=value`` folders.
- **Statements.** ``SELECT`` (and ``WITH``); ``CREATE TABLE ... WITH (format = 'PARQUET',
  external_location = ...) AS SELECT`` (Parquet written under the location, which must be empty,
  and the table created in Glue); ``DROP TABLE`` (the catalog entry only, as Athena's Hive tables).
- **Results.** The output location is the workgroup's when it enforces its configuration, else
  the request's, and one of them is required; a SELECT's result is written there as CSV.
  ``GetQueryResults`` pages it (``MaxResults`` 1-1000), the first page starting with the header
  row, every value a string and NULL without a value, as Athena answers.
- **Timing.** A query runs when it is started and has ended by the first ``GetQueryExecution``;
  ``hold()`` keeps the next ones ``RUNNING`` until ``release()`` (what a test of a caller's
  waiting needs). In AWS a query queues and runs for seconds to minutes.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from botocore.exceptions import ClientError
from sqlglot import exp

from nudgeloop.adapters import aws

from .patching import Replacements

_replacements = Replacements()
_active: dict[str, Any] = {"engine": None}
MAX_RESULTS = 1000
_TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# DuckDB's result types as Athena names them (ColumnInfo) and as Hive stores them (Glue columns)
_ATHENA_TYPES = {"VARCHAR": "varchar", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double", "BOOLEAN": "boolean"}
_ATHENA_TYPES |= {"TIMESTAMP": "timestamp", "DATE": "date", "FLOAT": "float", "HUGEINT": "bigint"}
_HIVE_TYPES = {"varchar": "string", "timestamp": "timestamp", "integer": "int"}
_DUCK_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN"}
_DUCK_TYPES |= {"timestamp": "TIMESTAMP", "date": "DATE", "float": "FLOAT"}


class QueryFailed(Exception):
    """The query ends FAILED with this reason (as Athena's StateChangeReason)."""


@dataclass
class Run:
    execution_id: str
    query: str
    database: str
    workgroup: str
    output: str  # s3://bucket/prefix/<id>.csv
    caller: str | None  # the function that started it: its role reads and writes for it
    state: str = "QUEUED"
    reason: str = ""
    statement_type: str = "DML"
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, athena type)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    scanned: int = 0
    submitted: float = field(default_factory=time.time)
    completed: float | None = None


class LocalAthena:
    def __init__(self, enforcer: Any) -> None:
        self.enforcer = enforcer
        self.runs: dict[str, Run] = {}
        self._held = False
        self._lock = threading.RLock()
        self._duck: duckdb.DuckDBPyConnection | None = None  # one embedded database: opening one costs ~20 ms

    def close(self) -> None:
        with self._lock:
            if self._duck is not None:
                self._duck.close()
                self._duck = None

    # ------------------------------------------------------------------ test controls

    def hold(self) -> None:
        """Queries started from now on stay RUNNING until ``release()``."""
        self._held = True

    def release(self) -> None:
        self._held = False
        for run in [r for r in self.runs.values() if r.state == "RUNNING"]:
            self._execute(run)

    # ------------------------------------------------------------------ the API

    def start(
        self, execution_id: str, query: str, context: dict[str, Any] | None, config: dict[str, Any] | None, group: Any
    ) -> Run:
        settings = (group.configuration if group is not None else {}) or {}
        enforced = settings.get("EnforceWorkGroupConfiguration", True)
        location = ((settings.get("ResultConfiguration") or {}) if enforced else {}).get("OutputLocation") or (config or {}).get(
            "OutputLocation"
        )
        if not location:
            raise _invalid("No output location provided. An output location is required either through the Workgroup "
                           "result configuration setting or as an API input.")  # fmt: skip
        run = Run(
            execution_id=execution_id,
            query=query,
            database=str((context or {}).get("Database") or "default"),
            workgroup=group.name if group is not None else "primary",
            output=location.rstrip("/") + f"/{execution_id}.csv",
            caller=self.enforcer.current if self.enforcer is not None else None,
        )
        self.runs[execution_id] = run
        run.state = "RUNNING"
        if not self._held:
            self._execute(run)
        return run

    def page(self, run: Run, limit: int, token: str | None) -> tuple[list[list[str | None]], str | None]:
        if run.state != "SUCCEEDED":
            raise _invalid(f"Query has not yet finished. Current state: {run.state}")
        if not 1 <= limit <= MAX_RESULTS:
            raise _invalid(f"MaxResults must be between 1 and {MAX_RESULTS}")
        self._as_caller(run, lambda: aws.client("s3").head_object(**_split(run.output)))  # s3:GetObject on the result
        table: list[list[str | None]] = []
        if run.statement_type == "DML":
            header: list[str | None] = [name for name, _ in run.columns]
            table = [header] + [[_text(v) for v in row] for row in run.rows]
        start = int(base64.b64decode(token).decode()) if token else 0
        rows = table[start : start + limit]
        end = start + len(rows)
        return rows, base64.b64encode(str(end).encode()).decode() if end < len(table) else None

    # ------------------------------------------------------------------ execution

    def _execute(self, run: Run) -> None:
        with self._lock:
            try:
                self._as_caller(run, lambda: self._run(run))
                run.state = "SUCCEEDED"
            except QueryFailed as failed:
                run.state, run.reason = "FAILED", str(failed)
            except ClientError as denied:  # a read or write the caller's role may not make
                run.state, run.reason = "FAILED", f"Permission denied: {denied.response['Error'].get('Message', '')}"
            except (sqlglot.errors.ParseError, duckdb.Error) as bad:
                run.state, run.reason = "FAILED", f"Query failed: {str(bad).splitlines()[0][:500]}"
            run.completed = time.time()

    def _as_caller(self, run: Run, work: Any) -> Any:
        if self.enforcer is None or run.caller is None or self.enforcer.current == run.caller:
            return work()
        with self.enforcer.acting_as(run.caller):
            return work()

    def _run(self, run: Run) -> None:
        tree = _at_the_clocks_now(sqlglot.parse_one(run.query, read="athena"))
        if isinstance(tree, exp.Drop) and tree.args.get("kind") == "TABLE":
            run.statement_type = "DDL"
            table = tree.find(exp.Table)
            assert table is not None
            try:
                aws.client("glue").delete_table(DatabaseName=table.db or run.database, Name=table.name)
            except ClientError as missing:
                if not tree.args.get("exists"):
                    raise QueryFailed(f"Table {table.name} does not exist") from missing
            return
        create = tree if isinstance(tree, exp.Create) and tree.args.get("kind") == "TABLE" else None
        select = create.expression if create is not None else tree
        if not isinstance(select, exp.Query):
            raise QueryFailed(f"the local Athena runs SELECT, CREATE TABLE AS SELECT and DROP TABLE, not: {run.query[:80]}")
        with tempfile.TemporaryDirectory(prefix="athena-") as work, self._session() as db:
            run.scanned = self._load_tables(db, select, run.database, Path(work))  # type: ignore[arg-type]
            sql = select.sql(dialect="duckdb")
            if create is None:
                result = db.execute(sql)
                run.columns = [(d[0], _ATHENA_TYPES.get(str(d[1]).split("(")[0], str(d[1]).lower())) for d in result.description]
                run.rows = result.fetchall()
                self._write_result(run)
                return
            run.statement_type = "DDL"
            self._create_table_as(db, create, sql, run, Path(work))

    @contextlib.contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of the embedded database for one query (queries run one at a time): the
        views it made over the catalog tables it read are dropped when it ends, so no query sees
        another's."""
        if self._duck is None:
            self._duck = duckdb.connect(":memory:")
        db = self._duck.cursor()
        try:
            yield db
        finally:
            views = db.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall()
            for schema, view in views:
                db.execute(f'DROP VIEW IF EXISTS "{schema}"."{view}"')
            db.close()

    def _load_tables(self, db: duckdb.DuckDBPyConnection, select: exp.Expression, database: str, work: Path) -> int:
        """Each catalog table the query reads, as a DuckDB view over a copy of its objects."""
        ctes = {cte.alias for cte in select.find_all(exp.CTE)}
        scanned = 0
        glue, s3 = aws.client("glue"), aws.client("s3")
        for node in list(select.find_all(exp.Table)):
            if not node.name or (not node.db and node.name in ctes):
                continue
            schema = node.db or database
            try:
                table = glue.get_table(DatabaseName=schema, Name=node.name)["Table"]
            except ClientError as missing:
                if missing.response["Error"]["Code"] == "EntityNotFoundException":
                    raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{schema}.{node.name}' does not exist") from None
                raise
            described = table["StorageDescriptor"]
            bucket, prefix = _split(described["Location"]).values()
            prefix = prefix.rstrip("/") + "/"
            files: list[str] = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/") or key.rsplit("/", 1)[-1][:1] in ("_", "."):
                        continue
                    path = work / schema / node.name / key[len(prefix) :]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                    scanned += item["Size"]
                    files.append(str(path))
            db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            db.execute(f'CREATE OR REPLACE VIEW "{schema}"."{node.name}" AS {_reader(described, table, files)}')
            if not node.db:
                node.set("db", exp.to_identifier(schema))
        return scanned

    def _write_result(self, run: Run) -> None:
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow([name for name, _ in run.columns])
        writer.writerows([["" if v is None else _text(v) for v in row] for row in run.rows])
        aws.client("s3").put_object(**_split(run.output), Body=out.getvalue().encode())

    def _create_table_as(self, db: duckdb.DuckDBPyConnection, create: exp.Create, sql: str, run: Run, work: Path) -> None:
        target = create.this.this if isinstance(create.this, exp.Schema) else create.this
        schema, name = target.db or run.database, target.name
        props: dict[str, str] = {}
        for prop in (create.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.FileFormatProperty):
                props["format"] = prop.name
            elif isinstance(prop, exp.Property):
                props[prop.name.lower()] = prop.text("value")
        if props.get("format", "").upper() != "PARQUET" or not props.get("external_location"):
            raise QueryFailed("the local Athena writes CTAS tables as format = 'PARQUET' with an external_location")
        glue, s3 = aws.client("glue"), aws.client("s3")
        try:
            glue.get_table(DatabaseName=schema, Name=name)
            raise QueryFailed(f"Table {name} already exists")
        except ClientError:
            pass
        location = props["external_location"].rstrip("/") + "/"
        where = _split(location)
        if s3.list_objects_v2(Bucket=where["Bucket"], Prefix=where["Key"], MaxKeys=1).get("KeyCount", 0):
            raise QueryFailed(
                f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{schema}.{name}' already exists: {location}"
            )
        result = db.execute(f"SELECT * FROM ({sql}) LIMIT 0")  # noqa: S608 - the caller's query, as Athena runs it
        columns = [(d[0], _ATHENA_TYPES.get(str(d[1]).split("(")[0], str(d[1]).lower())) for d in result.description]
        path = work / f"{run.execution_id}.parquet"
        compression = props.get("write_compression", "snappy").lower()
        db.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION {compression})")
        s3.put_object(Bucket=where["Bucket"], Key=f"{where['Key']}{run.execution_id}_00000", Body=path.read_bytes())
        glue.create_table(
            DatabaseName=schema,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet", "has_encrypted_data": "false"},
                "StorageDescriptor": {
                    "Columns": [{"Name": c, "Type": _HIVE_TYPES.get(t, t)} for c, t in columns],
                    "Location": location,
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {"SerializationLibrary": _PARQUET_SERDE},
                },
            },
        )


def _reader(described: dict[str, Any], table: dict[str, Any], files: list[str]) -> str:
    """The DuckDB SELECT that reads a Glue table's copied objects as Athena would."""
    columns = [(c["Name"], c["Type"]) for c in described.get("Columns", [])]
    partitions = [p["Name"] for p in table.get("PartitionKeys", [])]
    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    serde = described.get("SerdeInfo", {})
    if serde.get("SerializationLibrary") == _PARQUET_SERDE:
        if not files:
            return (
                "SELECT "
                + ", ".join(f'CAST(NULL AS {_DUCK_TYPES.get(t, "VARCHAR")}) AS "{c}"' for c, t in columns)
                + " WHERE false"
            )
        return f"SELECT {', '.join(chr(34) + c + chr(34) for c, _ in columns)} FROM read_parquet({listed})"  # noqa: S608
    if serde.get("SerializationLibrary") != _TEXT_SERDE:
        raise QueryFailed(f"the local Athena reads text and Parquet tables, not {serde.get('SerializationLibrary')}")
    names = [*(c for c, _ in columns), *partitions]
    if not files:
        return "SELECT " + ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in names) + " WHERE false"
    delimiter = (serde.get("Parameters") or {}).get("field.delim", "\x01")
    types = "{" + ", ".join(f"'{c}': '{_DUCK_TYPES.get(t, 'VARCHAR')}'" for c, t in columns) + "}"
    return (
        f"SELECT {', '.join(chr(34) + c + chr(34) for c in names)} FROM read_csv({listed}, columns={types}, "  # noqa: S608 - catalog names
        f"delim=chr({ord(delimiter)}), quote='', escape='', header=false, auto_detect=false, "
        f"hive_partitioning={'true' if partitions else 'false'}, null_padding=true)"
    )


def _split(url: str) -> dict[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return {"Bucket": bucket, "Key": key}


def _text(value: Any) -> str | None:
    """A value as Athena's results give it: text, booleans lower case, timestamps with milliseconds."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S.")) + f"{value.microsecond // 1000:03d}"
    return str(value)


def _invalid(message: str) -> Exception:
    from moto.athena.exceptions import AthenaClientError

    return AthenaClientError(code="InvalidRequestException", message=message)


# ---------------------------------------------------------------------- moto, with this engine


def attach(engine: LocalAthena | None) -> None:
    """The running stack's Athena (None: stopped)."""
    _active["engine"] = engine
    if engine is not None:
        _replacements.install(_run_queries)


def _engine() -> LocalAthena:
    found = _active["engine"]
    if found is None:
        raise RuntimeError("no local stack is running")
    return found  # type: ignore[no-any-return]


def _at_the_clocks_now(tree: Any) -> Any:
    """``current_timestamp`` and ``current_date`` as of the stack's clock (Athena's session is UTC):
    on a simulated clock, "the last 90 days" are the simulation's, as every handler's are."""
    from nudgeloop import clock

    now = clock.now().astimezone(UTC)

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentTimestamp):
            return exp.cast(exp.Literal.string(now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]), "TIMESTAMP")
        if isinstance(node, exp.CurrentDate):
            return exp.cast(exp.Literal.string(now.date().isoformat()), "DATE")
        return node

    return tree.transform(replace)


def _run_queries() -> None:
    import json

    from moto.athena.models import AthenaBackend, Execution
    from moto.athena.responses import AthenaResponse

    def start_query_execution(
        backend: Any, query: str, context: Any, config: Any, workgroup: str, execution_parameters: Any
    ) -> str:
        group = backend.work_groups.get(workgroup or "primary")
        execution = Execution(query=query, context=context, config=config, workgroup=group, execution_parameters=None)
        _engine().start(execution.id, query, context, config, group)
        backend.executions[execution.id] = execution
        return execution.id

    def get_query_execution(response: Any) -> str:
        run = _found(response._get_param("QueryExecutionId"))
        status: dict[str, Any] = {"State": run.state, "SubmissionDateTime": run.submitted}
        if run.completed is not None:
            status["CompletionDateTime"] = run.completed
        if run.reason:
            status["StateChangeReason"] = run.reason
        return json.dumps(
            {
                "QueryExecution": {
                    "QueryExecutionId": run.execution_id,
                    "Query": run.query,
                    "StatementType": run.statement_type,
                    "ResultConfiguration": {"OutputLocation": run.output},
                    "QueryExecutionContext": {"Database": run.database},
                    "Status": status,
                    "Statistics": {"DataScannedInBytes": run.scanned, "EngineExecutionTimeInMillis": 0},
                    "WorkGroup": run.workgroup,
                }
            }
        )

    def get_query_results(response: Any) -> str:
        run = _found(response._get_param("QueryExecutionId"))
        rows, token = _engine().page(run, int(response._get_param("MaxResults") or MAX_RESULTS), response._get_param("NextToken"))
        answer: dict[str, Any] = {
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {"CatalogName": "hive", "Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN"} for n, t in run.columns
                    ]
                },
            },
            "UpdateCount": 0,
        }
        if token:
            answer["NextToken"] = token
        return json.dumps(answer)

    _replacements.replace(AthenaBackend, "start_query_execution", start_query_execution)
    _replacements.replace(AthenaResponse, "get_query_execution", get_query_execution)
    _replacements.replace(AthenaResponse, "get_query_results", get_query_results)


def _found(execution_id: str) -> Run:
    run = _engine().runs.get(execution_id)
    if run is None:
        raise _invalid(f"QueryExecution {execution_id} was not found")
    return run
