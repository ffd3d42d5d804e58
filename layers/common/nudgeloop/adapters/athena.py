"""Athena queries in the audience workgroup: started, watched, paged. The workgroup enforces its
result location (the data bucket's ``athena-results/``) and a cap on the bytes a query may scan."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nudgeloop.adapters.aws import client
from nudgeloop.config import settings

RUNNING = ("QUEUED", "RUNNING")
MAX_PAGE = 1000  # GetQueryResults' MaxResults


@dataclass(frozen=True)
class Status:
    state: str  # QUEUED | RUNNING | SUCCEEDED | FAILED | CANCELLED
    reason: str
    scanned_bytes: int
    output: str = ""  # where Athena wrote the results: s3://bucket/key.csv

    @property
    def running(self) -> bool:
        return self.state in RUNNING


def start(sql: str) -> str:
    s = settings()
    answer = client("athena").start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": s.audience_database}, WorkGroup=s.audience_workgroup
    )
    return str(answer["QueryExecutionId"])


def status(execution_id: str) -> Status:
    found = client("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    return Status(
        state=found["Status"]["State"],
        reason=found["Status"].get("StateChangeReason", ""),
        scanned_bytes=int(found.get("Statistics", {}).get("DataScannedInBytes", 0)),
        output=found.get("ResultConfiguration", {}).get("OutputLocation", ""),
    )


def wait(execution_id: str, until: float, poll_s: float = 2.0) -> Status:
    """The query's status once it has ended, or at ``until`` (``time.monotonic()``) if it has not."""
    while True:
        found = status(execution_id)
        if not found.running or time.monotonic() + poll_s > until:
            return found
        time.sleep(poll_s)


def page(execution_id: str, limit: int, token: str | None) -> tuple[list[dict[str, str | None]], str | None]:
    """Up to ``limit`` result rows as {column: text or None}, and the token of the next page. The
    header row Athena puts first is taken off here (it counts towards the first page's limit,
    hence one more asked for then)."""
    first = token is None
    args: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": min(limit + (1 if first else 0), MAX_PAGE)}
    if token:
        args["NextToken"] = token
    answer = client("athena").get_query_results(**args)
    names = [c["Name"] for c in answer["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    rows = answer["ResultSet"]["Rows"][1:] if first else answer["ResultSet"]["Rows"]
    values = [{n: d.get("VarCharValue") for n, d in zip(names, row["Data"], strict=True)} for row in rows]
    return values, answer.get("NextToken")
