"""An audience's members, as ``GET /v1/audiences/{id}/members`` answers them: evaluated by Athena
over the current snapshot's tables (``services/audience_snapshot``), paged from its results.

An evaluation is started when the audience has none for its newest definition and the current
snapshot (or when ``refresh`` asks); while it runs the answer is ``running`` (HTTP 202 with
Retry-After); once it has succeeded, pages of ``limit`` members are read from Athena's results
with a cursor naming the evaluation. A failed one is forgotten, so the next request starts anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import athena
from nudgeloop.dal import jobs
from nudgeloop.services import audience_snapshot, audience_store, audiences, cursors

COUNT_COLUMN = "member_count"
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    retry_after_s: int | None = None


NO_SUCH_AUDIENCE = Answer(404, {"error": {"field": "audience_id", "reason": "no such audience"}})


def evaluable(bucket: str, audience_id: str) -> tuple[dict[str, Any], dict[str, Any]] | Answer:
    """The saved audience and the snapshot it may be evaluated over, or the answer saying why
    not: 404 (no such audience), 503 with Retry-After (no usable snapshot yet)."""
    saved = audience_store.get(bucket, audience_id)
    if saved is None:
        return NO_SUCH_AUDIENCE
    snapshot, why_not = audience_snapshot.usable()
    if snapshot is None:
        return Answer(503, why_not, retry_after_s=300)
    return saved, snapshot


def members(bucket: str, audience_id: str, limit: int, cursor: str | None, refresh: bool = False) -> Answer:
    listing = f"audience-members:{audience_id}"
    position = cursors.decode(cursor, listing)  # raises BadCursor
    record = jobs.evaluation(audience_id)
    if position is not None:
        if record is None or record.get("query") != position[0]:
            return Answer(410, {"error": {"field": "cursor", "reason": "the evaluation this cursor belongs to was replaced"}})
        return _page(record, listing, limit, position[1] or None)
    found = evaluable(bucket, audience_id)
    if isinstance(found, Answer):
        return found
    saved, snapshot = found
    if refresh or record is None or (record.get("version"), record.get("run")) != (saved["version"], snapshot["run"]):
        record = _start(audience_id, saved, snapshot)
    query = athena.status(record["query"])
    if query.running:
        return Answer(202, {"status": "running", **_about(record)}, retry_after_s=RETRY_AFTER_S)
    if query.state != "SUCCEEDED":
        jobs.forget_evaluation(audience_id)
        return Answer(502, {"status": "failed", "reason": query.reason or query.state, **_about(record)})
    return _page(record, listing, limit, None)


def _start(audience_id: str, saved: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    from nudgeloop.domain.audience_sql import compile_audience  # sqlglot: off the API's cold start

    at = clock.now()
    compiled = compile_audience(audiences.parse(saved["text"]), at)
    sql = compiled.for_athena(audience_snapshot.run_tables(snapshot["run"]))
    counted = f"SELECT q.*, COUNT(*) OVER () AS {COUNT_COLUMN} FROM ({sql}) AS q ORDER BY q.customer_id"  # noqa: S608 - compiled
    record = {
        "query": athena.start(counted),
        "evaluated_at": clock.iso(at),
        "version": saved["version"],
        "run": snapshot["run"],
        "exported_at": snapshot["exported_at"],
        "measures": list(compiled.measures),
    }
    jobs.save_evaluation(audience_id, record)
    return record


def _about(record: dict[str, Any]) -> dict[str, Any]:
    """What an answer says of its evaluation: when, and how fresh the state it read was."""
    return {"evaluated_at": record["evaluated_at"], "state_as_of": record["exported_at"], "version": record["version"]}


def _page(record: dict[str, Any], listing: str, limit: int, token: str | None) -> Answer:
    rows, next_token = athena.page(record["query"], limit, token)
    count = int(rows[0][COUNT_COLUMN] or 0) if rows else 0  # on every row; a page after the first has rows
    members = [
        {
            "customer_id": row["customer_id"],
            "qualified_by": {label: _value(row.get(label)) for label in record["measures"]},
        }
        for row in rows
    ]
    body = {
        "count": count,
        **_about(record),
        "members": members,
        "next": cursors.encode(listing, (record["query"], next_token)) if next_token else None,
    }
    return Answer(200, body)


def _value(text: str | None) -> Any:
    """A measure as JSON: numbers as numbers, the rest as Athena gave it."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(text, text)
