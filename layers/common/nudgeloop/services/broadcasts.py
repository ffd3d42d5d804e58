"""Broadcasts (``domain/broadcasts``): ``POST /v1/broadcasts`` records one (or sends a test), the
broadcast function selects its members and writes their batches, the sweep releases the batches
at the SES rate, the batch function sends each member's mail through the journeys' send path.

Each step goes on where a crashed one stopped: the selection's query id and the number of
members written are saved as it goes; a batch is ``parked``, ``dispatched`` (with when) or
``done``, and a dispatched batch whose invocation died is dispatched again after
``REDISPATCH_AFTER``. Whatever is repeated, a member gets the mail at most once: the ledger's
reservation (campaign ``broadcast-<id>``, step ``broadcast``, execution the broadcast's id) is
taken before SES is called, as for a journey's send.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import athena, objects
from nudgeloop.adapters.aws import client
from nudgeloop.config import Settings, settings
from nudgeloop.dal import broadcasts as store
from nudgeloop.dal import campaign_stats
from nudgeloop.domain import broadcasts as rules
from nudgeloop.observability import logger
from nudgeloop.services import audience_snapshot, audience_store, audiences
from nudgeloop.services.audience_members import NO_SUCH_AUDIENCE, Answer

MARGIN_S = 60
DONE = ("sent", "skipped", "duplicate", "capped", "failed")  # a member's send that is over, whatever its outcome


def request(body: dict[str, Any]) -> Answer:
    """A broadcast recorded and started (202), the same one again (200), or why not."""
    from pydantic import ValidationError

    try:
        asked = rules.BroadcastRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        return Answer(400, {"error": {"field": ".".join(str(p) for p in error["loc"]) or "body", "reason": error["msg"]}})
    s = settings()
    saved = audience_store.get(s.campaigns_bucket, asked.audience_id)
    if saved is None:
        return NO_SUCH_AUDIENCE
    if asked.test_to is not None:
        from botocore.exceptions import ClientError

        try:
            answer = client("lambda").invoke(
                FunctionName=s.broadcast_function, Payload=json.dumps({"test": asked.model_dump(mode="json")})
            )
        except ClientError as exc:  # its one instance is busy selecting a broadcast: Lambda throttles
            if exc.response["Error"]["Code"] != "TooManyRequestsException":
                raise
            return Answer(503, {"error": {"field": "test_to", "reason": "the broadcast function is busy: try again"}}, 30)
        result = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError"):
            logger.error("test send failed", extra={"error": str(result.get("errorType"))})
            return Answer(502, {"error": {"field": "test_to", "reason": "the test send failed (the broadcast function's logs)"}})
        if "error" in result:
            return Answer(400, {"error": {"field": result["error"]["field"], "reason": result["error"]["reason"]}})
        return Answer(200, result)
    fields = asked.model_dump(mode="json", exclude={"test_to"})
    record = {**fields, "status": "scheduled", "requested_at": clock.iso(clock.now()), "members": None}
    if not store.create(asked.broadcast_id, record):
        held = store.get(asked.broadcast_id) or {}
        if {k: held.get(k) for k in fields} != fields:
            reason = "another broadcast has this broadcast_id (the idempotency key): use a new one"
            return Answer(409, {"error": {"field": "broadcast_id", "reason": reason}})
        return Answer(200, view(held))
    if rules.due(fields["send_at"], clock.now()):
        _invoke(s.broadcast_function, {"broadcast_id": asked.broadcast_id})
    return Answer(202, view(record), retry_after_s=30)


def _invoke(function: str, event: dict[str, Any]) -> None:
    client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event))


def test_send(asked: dict[str, Any], s: Settings) -> dict[str, Any]:
    """The broadcast's template to ``test_to``, rendered with the sample context, marked [TEST]."""
    from jinja2 import TemplateError

    from nudgeloop.domain import mail
    from nudgeloop.services import sender  # the send path: off the API's cold start

    try:
        return sender.send_test(s.templates_bucket, asked["template"], asked["test_to"], mail.sample_context(), None, s.sender)
    except ValueError as exc:
        return {"error": {"field": "test_to", "reason": str(exc)}}
    except TemplateError as exc:
        return {"error": {"field": "template", "reason": f"{type(exc).__name__}: {exc}"[:300]}}


# ---------------------------------------------------------------------- the broadcast function


def advance(broadcast_id: str, deadline: float, now: datetime) -> str:
    """Take the broadcast as far as it goes before ``deadline``: select its members over the
    current snapshot, write their batches, release the first of them. Returns its status."""
    record = store.get(broadcast_id)
    if record is None or record["status"] in ("sending", "done", "failed"):
        return record["status"] if record else "gone"
    if not rules.due(record.get("send_at"), now):
        return "scheduled"
    s = settings()
    if record.get("query") is None:
        snapshot, why_not = audience_snapshot.usable()
        if snapshot is None:
            record.update(status="waiting_for_snapshot", reason=why_not["reason"])
            store.save(broadcast_id, record)
            return "waiting_for_snapshot"  # the sweep tries again
        from nudgeloop.domain import audience_exports
        from nudgeloop.domain.audience_sql import compile_audience

        saved = audience_store.get(s.campaigns_bucket, record["audience_id"])
        if saved is None:
            return _fail(broadcast_id, record, "the audience was deleted")
        members = compile_audience(audiences.parse(saved["text"]), now)
        selected = audience_exports.export_query(members, ("customer_id",), now)
        sql = selected.for_athena(audience_snapshot.run_tables(snapshot["run"]))
        record.update(
            status="selecting",
            query=athena.start(sql),
            version=saved["version"],
            evaluated_at=clock.iso(now),
            state_as_of=snapshot["exported_at"],
            written=0,
        )
        store.save(broadcast_id, record)
    found = athena.wait(record["query"], until=deadline - MARGIN_S)
    if found.running:
        return "selecting"
    if found.state != "SUCCEEDED":
        return _fail(broadcast_id, record, found.reason or found.state)
    _write_batches(broadcast_id, record, found.output)
    record.update(status="sending", sending_since=clock.iso(clock.now()))
    store.save(broadcast_id, record)
    release(broadcast_id, record, clock.now())
    return "sending"


def _fail(broadcast_id: str, record: dict[str, Any], reason: str) -> str:
    record.update(status="failed", reason=reason, finished_at=clock.iso(clock.now()))
    store.save(broadcast_id, record)
    store.finished(broadcast_id)
    return "failed"


def _write_batches(broadcast_id: str, record: dict[str, Any], result: str) -> None:
    """The members in batches, from where a crashed selection stopped (``written``)."""
    bucket, _, key = result.removeprefix("s3://").partition("/")
    rows = objects.csv_rows(bucket, key)
    next(rows, None)  # the header
    written = int(record.get("written") or 0)
    chunk: list[str] = []
    count = 0
    for row in rows:
        count += 1
        if count <= written:
            continue
        chunk.append(row[0])
        if len(chunk) == rules.BATCH:
            store.put_batch(broadcast_id, (count - 1) // rules.BATCH, chunk)
            record["written"] = count
            store.save(broadcast_id, record)
            chunk = []
    if chunk:
        store.put_batch(broadcast_id, (count - 1) // rules.BATCH, chunk)
    record.update(written=count, members=count)


def release(broadcast_id: str, record: dict[str, Any], now: datetime) -> dict[str, int]:
    """Dispatch the parked batches that are due (at most what the SES rate sends in a sweep),
    again those whose invocation died; the broadcast is done when every batch is. Returns the
    batches by state."""
    s = settings()
    budget = rules.batches_per_sweep(s.max_send_rate)
    states: Counter[str] = Counter()
    dispatched = 0
    for item in store.batches(broadcast_id):
        data = item.data or {}
        stale = item.status == "dispatched" and now - clock.parse_iso(data["dispatched_at"]) > rules.REDISPATCH_AFTER
        ready = item.status == "parked" and (data.get("not_before") is None or clock.parse_iso(data["not_before"]) <= now)
        if (ready or stale) and (budget is None or dispatched < budget):
            store.update_batch(item, "dispatched", dispatched_at=clock.iso(now))
            _invoke(s.broadcast_send_function, {"broadcast_id": broadcast_id, "batch": data["number"]})
            dispatched += 1
        states[item.status] += 1
    if record["status"] == "sending" and set(states) <= {"done"}:
        _finish(broadcast_id, record, now)
    return dict(states)


def _finish_if_done(broadcast_id: str, record: dict[str, Any]) -> None:
    """The last batch done ends the broadcast (two that end together both find it so: the same end)."""
    if record.get("status") == "sending" and all(i.status == "done" for i in store.batches(broadcast_id)):
        _finish(broadcast_id, record, clock.now())


def _finish(broadcast_id: str, record: dict[str, Any], now: datetime) -> None:
    record.update(status="done", finished_at=clock.iso(now))
    store.save(broadcast_id, record)
    store.finished(broadcast_id)


def sweep(deadline: float, now: datetime) -> dict[str, str]:
    """Every active broadcast, one step further (the broadcast function on its schedule)."""
    out = {}
    for broadcast_id in store.active():
        record = store.get(broadcast_id)
        if record is None:
            store.finished(broadcast_id)
            continue
        if record["status"] == "sending":
            release(broadcast_id, record, now)
            out[broadcast_id] = str((store.get(broadcast_id) or {}).get("status"))
        else:
            out[broadcast_id] = advance(broadcast_id, deadline, now)
    return out


# ---------------------------------------------------------------------- the batch function


def send_batch(broadcast_id: str, number: int, s: Settings, signing: bytes) -> dict[str, int]:
    """Each member of the batch sent (or skipped, capped...) once; those outside the send window,
    held by a pause or throttled are parked again, for the sweep to release when due."""
    from nudgeloop.services import sender

    record = store.get(broadcast_id)
    item = store.batch(broadcast_id, number)
    if record is None or item is None or item.status == "done":
        return {}
    window = s.window() if record["consent_purpose"] != "service" else None
    outcomes: Counter[str] = Counter()
    later: list[str] = []
    not_before: datetime | None = None
    for customer_id in (item.data or {})["customers"]:
        now = clock.now()
        request = {
            "customer_id": customer_id,
            "campaign_id": rules.campaign_id(broadcast_id),
            "step_id": rules.STEP_ID,
            "template": record["template"],
            "execution": broadcast_id,
            "consent_purpose": record["consent_purpose"],
            "trigger": {"type": "broadcast", "broadcast_id": broadcast_id, "audience_id": record["audience_id"]},
        }
        try:
            result = sender.send_configured(request, s, signing, window)
        except sender.SendThrottled:
            result = {"status": "throttled"}
        if result["status"] == "later":  # outside the send window in their time zone: when it opens
            later.append(customer_id)
            slot = clock.parse_iso(result["not_before"])
            not_before = min(not_before or slot, slot)
            outcomes["outside_window"] += 1
            continue
        outcomes[result["status"]] += 1
        if result["status"] not in DONE:  # held by the reputation pause, or throttled: later
            later.append(customer_id)
            not_before = min(not_before or now + rules.LATER, now + rules.LATER)
    if later:
        store.update_batch(item, "parked", customers=later, not_before=clock.iso(not_before or clock.now()), dispatched_at=None)
    else:
        store.update_batch(item, "done")
        _finish_if_done(broadcast_id, record)
    logger.info("broadcast batch", extra={"broadcast_id": broadcast_id, "batch": number, **outcomes})
    return dict(outcomes)


def view(record: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in record.items() if k not in ("query", "written")}
    if record.get("status") in ("sending", "done"):
        counts = campaign_stats.campaign_stats(rules.campaign_id(record["broadcast_id"])).get(rules.STEP_ID, {})
        shown["progress"] = {k: v for k, v in counts.items() if not k.startswith("_")}
    return shown


def status(broadcast_id: str) -> Answer:
    record = store.get(broadcast_id)
    if record is None:
        return Answer(404, {"error": {"field": "broadcast_id", "reason": "no such broadcast"}})
    body = view(record)
    if record["status"] == "sending":
        body["batches"] = dict(Counter(i.status for i in store.batches(broadcast_id)))
    return Answer(200, body)
