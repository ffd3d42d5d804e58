"""Erasure of a person (``DELETE /v1/customers/{id}``, ``nudgeloop customers erase``; GDPR Art. 17).

The request (the API) puts the person's addresses on the suppression list at once (by hash: from
this moment nothing is mailed to them, and no later event with the address makes it mailable),
records the erasure (``erasure_id``: a digest of the id) with who asked, and hands the work to
the erasure function. Its **first pass** (:func:`run`) stops the person's running journeys,
deletes by key what the tables keep of them (``dal/erasure``), every version of their sent
mails, their lines of the raw event archive (the objects of each day their events arrived,
rewritten, older versions deleted) and the import files that name them, and asks the audience
snapshot for a new run. The **second pass** (:func:`after_snapshot`, run by the snapshot job
once a snapshot exported after the request is current) deletes the older snapshots and exports
and the person's rows of audience exports, publications and Athena's results.

Counters keep their numbers (campaign statistics, entries, flows between steps, the days'
step counts); the per-step count of today loses the person with their customer item. What no
API deletes goes by itself by ``last_copy_gone_by`` (``domain/erasure.LAST_COPIES``).
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import objects
from nudgeloop.adapters.aws import client
from nudgeloop.config import settings
from nudgeloop.dal import audit, deliverability, event_log, identities, ledger
from nudgeloop.dal import customer_store as customers_table
from nudgeloop.dal import erasure as tables
from nudgeloop.domain import erasure as rules
from nudgeloop.domain import identity
from nudgeloop.domain.events import ORDER_TYPES
from nudgeloop.domain.idempotency import ledger_key_parts
from nudgeloop.layout import (
    ARCHIVE_PREFIX,
    AUDIENCE_EXPORTS_PREFIX,
    AUDIENCE_TABLES_PREFIX,
    EXPORTS_PREFIX,
    IMPORT_PREFIX,
    IMPORT_SUFFIXES,
    PUBLICATIONS_PREFIX,
    QUERY_RESULTS_PREFIX,
)
from nudgeloop.services import audience_store, campaign_store
from nudgeloop.specs import FunctionSpec

MARGIN_S = 60  # of an invocation's time, left for saving and handing on
ERASED = "erased"  # the suppression reason


# ------------------------------------------------------------------ the request (API)


def _held(customer_id: str) -> bool:
    return customers_table.get_customer(customer_id) is not None or bool(event_log.customer_events(customer_id, limit=1))


def request(customer_id: str, actor: str) -> tuple[dict[str, Any] | None, bool]:
    """Start erasing ``customer_id``: (the erasure's view, whether this request started it).
    An erasure under way is answered as it stands; a failed one goes on from where it failed;
    one complete is answered again unless the id has data again (the shop sent new events for
    it), which starts a new one. (None, False) when nothing is held and nothing was erased."""
    erasure_id = rules.erasure_id(customer_id)
    held = tables.record(erasure_id)
    if held is not None and held["status"] in ("running", "awaiting_snapshot") and not _stopped(held):
        return view(erasure_id, held), False
    if held is not None and held["status"] in ("failed", "running"):  # again from where it stopped (the record knows)
        held.pop("error", None)
        held.update(status="running", attempts=0, restarted_at=clock.iso(clock.now()), restarted_by=actor)
        tables.save_record(erasure_id, held)
        audit.record("erasure", erasure_id, "customer:erase", actor, {"restarted": True})
        invoke({"customer_id": customer_id, "erasure_id": erasure_id})
        return view(erasure_id, held), True
    if not _held(customer_id):
        return (view(erasure_id, held), False) if held is not None else (None, False)
    now = clock.now()
    suppressed = _suppress(customer_id)
    data: dict[str, Any] = {
        "status": "running",
        "requested_at": clock.iso(now),
        "requested_by": actor,
        "id_digest": rules.digest(customer_id),
        "addresses_suppressed": suppressed,
        "last_copy_gone_by": clock.iso(rules.last_copy_gone_by(now)),
        "erased": {},
    }
    tables.save_record(erasure_id, data)
    audit.record("erasure", erasure_id, "customer:erase", actor, {"addresses_suppressed": suppressed}, at=now)
    invoke({"customer_id": customer_id, "erasure_id": erasure_id})
    return view(erasure_id, data), True


def invoke(event: dict[str, Any], function: str | None = None) -> None:
    client("lambda").invoke(
        FunctionName=function or settings().erasure_function, InvocationType="Event", Payload=json.dumps(event)
    )


def _stopped(data: dict[str, Any]) -> bool:
    """A pass that died without a word (a timeout, a crash: no ``except`` ran; or invocations that
    failed before the handler ran): its last attempt began longer ago than the function may run,
    and Lambda makes no more of them (every retry was made, or the event is older than Lambda
    keeps one). It is failed."""
    if data["status"] != "running":
        return False
    spec = _spec()
    run_for = timedelta(seconds=spec.timeout_s)
    last = max(clock.parse_iso(str(data[k])) for k in ("requested_at", "restarted_at", "attempt_at") if data.get(k))
    if int(data.get("attempts", 0)) > spec.async_retries:
        return clock.now() - last > run_for
    return clock.now() - last > timedelta(seconds=spec.async_max_age_s) + run_for


def status(erasure_id: str) -> dict[str, Any] | None:
    held = tables.record(erasure_id)
    return view(erasure_id, held) if held is not None else None


def view(erasure_id: str, data: dict[str, Any]) -> dict[str, Any]:
    if _stopped(data):
        data = {**data, "status": "failed", "error": data.get("error") or "the pass stopped (a timeout or a crash)"}
    moments = ("status", "requested_at", "requested_by", "first_pass_at", "completed_at")
    shown: dict[str, Any] = {k: data[k] for k in moments if k in data}
    return {
        "erasure_id": erasure_id,
        **shown,
        "addresses_suppressed": data.get("addresses_suppressed", 0),
        "erased": data.get("erased", {}),
        "last_copy_gone_by": data.get("last_copy_gone_by"),
        "remaining_copies": {name: f"{days} days" for name, days in rules.LAST_COPIES.items()},
        **({"error": data["error"]} if data.get("error") else {}),
    }


def _addresses(customer_id: str) -> set[str]:
    """Every address the person was known by: the profile's and any their events carried."""
    found: set[str] = set()
    customer = customers_table.get_customer(customer_id)
    if customer is not None and customer.email:
        found.add(customer.email.strip().lower())
    for event in event_log.customer_events(customer_id, limit=10**9):
        email = event.properties.get("email")
        if isinstance(email, str) and "@" in email:
            found.add(email.strip().lower())
    return found


def _suppress(customer_id: str) -> int:
    at = clock.iso(clock.now())
    addresses = _addresses(customer_id)
    for address in addresses:
        deliverability.suppress(address, ERASED, at)
    return len(addresses)


# ------------------------------------------------------------------ the first pass (the erasure function)


def run(customer_id: str, erasure_id: str, deadline: float) -> str:
    """The first pass, as far as it goes before ``deadline`` (``time.monotonic()``); returns the
    status, ``running`` when it is to be continued (the record keeps which days are done)."""
    data = tables.record(erasure_id)
    if data is None or data["status"] != "running":
        return str(data["status"]) if data else "gone"
    s = settings()
    erased: dict[str, int] = data.setdefault("erased", {})
    # counted before the work: an attempt that dies without a word (a crash) is counted too
    data.update(attempts=int(data.get("attempts", 0)) + 1, attempt_at=clock.iso(clock.now()))
    tables.save_record(erasure_id, data)
    try:
        if not data.get("tables_done"):
            data["addresses_suppressed"] = max(int(data.get("addresses_suppressed", 0)), _suppress(customer_id))
            # the visitor ids linked to the person: their events are the person's (domain/identity)
            data["visitors"] = sorted(set(data.get("visitors", [])) | _visitors(customer_id))
            days = {d for who in (customer_id, *data["visitors"]) for d in _arrival_days(who)}
            data["archive_days"] = sorted(set(data.get("archive_days", [])) | days)
            data["sent_mails"] = sorted(set(data.get("sent_mails", [])) | set(_sent_mails(customer_id)))
            # kept before the passes below delete what these were found from: a retry after them still has them
            tables.save_record(erasure_id, data)
            _count(erased, _stop_journeys(customer_id, s.state_machine_arn))
            _count(erased, _visitors_pass(data["visitors"]))
            _count(erased, _tables_pass(customer_id, s.campaigns_bucket))
            data["tables_done"] = True
            tables.save_record(erasure_id, data)
        if not data.get("mails_done"):
            _count(erased, {"sent_mail_versions": sum(objects.erase_object(s.data_bucket, k) for k in data["sent_mails"])})
            data["mails_done"] = True
            tables.save_record(erasure_id, data)
        for day in list(data["archive_days"]):
            if time.monotonic() > deadline - MARGIN_S:  # handed on to a new invocation: not a failed attempt
                data["attempts"] = 0
                tables.save_record(erasure_id, data)
                return "running"
            _count(erased, _archive_day(s.data_bucket, day, frozenset({customer_id, *data.get("visitors", [])})))
            data["archive_days"].remove(day)
            tables.save_record(erasure_id, data)
        if not data.get("imports_done"):
            _count(erased, _imports(s.data_bucket, customer_id))
            data["imports_done"] = True
        # what a journey task in flight wrote while the pass ran (a send completing its ledger entry)
        _count(erased, _tables_pass(customer_id, s.campaigns_bucket))
    except Exception as exc:
        # Lambda runs the pass again (``async_retries``), from where the record says it was;
        # after the last attempt the erasure is failed (asking again starts it over)
        data.update(error=type(exc).__name__, status="failed" if data["attempts"] > _retries() else "running")
        tables.save_record(erasure_id, data)
        raise
    for key in ("archive_days", "sent_mails", "tables_done", "mails_done", "imports_done", "visitors"):
        data.pop(key, None)
    data.update(status="awaiting_snapshot", first_pass_at=clock.iso(clock.now()))
    tables.save_record(erasure_id, data, awaiting_snapshot=True)
    from nudgeloop.services import audience_snapshot  # sqlglot stays off the API's cold start

    audience_snapshot.request(erasures=True)
    return "awaiting_snapshot"


def _spec() -> FunctionSpec:
    return _erasure_spec(settings().prefix)


@cache
def _erasure_spec(prefix: str) -> FunctionSpec:
    """The erasure function's spec (its timeout and retries), read once per container."""
    from nudgeloop.resources import catalog

    return catalog(prefix).function("erasure")


def _retries() -> int:
    """Lambda's retries of a failed pass (the erasure function's ``async_retries``)."""
    return _spec().async_retries


def _count(into: dict[str, int], found: dict[str, int]) -> None:
    for name, n in found.items():
        if n:
            into[name] = into.get(name, 0) + n


def _arrival_days(customer_id: str) -> list[str]:
    """The days the person's events arrived: the archive's partitions holding their lines."""
    return sorted({clock.iso(e.received_at)[:10] for e in event_log.customer_events(customer_id, limit=10**9)})


def _sent_mails(customer_id: str) -> list[str]:
    return sorted({str(e.data["archive_key"]) for e in ledger.ledger(customer_id) if e.data.get("archive_key")})


def _stop_journeys(customer_id: str, state_machine_arn: str) -> dict[str, int]:
    """Stop the person's running journeys (their execution names carry the id's digest)."""
    sfn = client("stepfunctions")
    mark = f"-{rules.digest(customer_id)[:20]}-"
    stopped = 0
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    for page in pages:
        for execution in page.get("executions", []):
            if mark in execution["name"]:
                try:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="the customer was erased")
                    stopped += 1
                except sfn.exceptions.ExecutionDoesNotExist:
                    continue
    return {"journeys_stopped": stopped}


def _tables_pass(customer_id: str, campaigns_bucket: str) -> dict[str, int]:
    entries = ledger.ledger(customer_id)
    events = event_log.customer_events(customer_id, limit=10**9)
    customer = customers_table.get_customer(customer_id)
    campaigns = {str(r["id"]) for r in campaign_store.listing(campaigns_bucket) if r.get("id")}
    campaigns |= {ledger_key_parts(e.key)[0] for e in entries}
    orders = {str(e.properties["order_id"]) for e in events if e.type in ORDER_TYPES and e.properties.get("order_id")}
    found, pool_codes = tables.engine_keys(customer_id, entries, campaigns, orders)
    audiences = [str(a["id"]) for a in audience_store.listing(campaigns_bucket)]
    return {
        "engine_items": tables.delete_engine(found) if found else 0,
        "pool_codes_unlinked": tables.forget_pool_codes(pool_codes),
        "referral_codes": tables.forget_referral_code(customer.referral_code if customer else None),
        "broadcast_batches": tables.remove_from_broadcasts(customer_id),
        "recs_items": tables.delete_recs(customer_id, audiences),
        "audit_entries": tables.delete_audit(customer_id),
        "events": tables.delete_events(customer_id),
        "customer": tables.delete_customer(customer_id),
    }


def _visitors(customer_id: str) -> set[str]:
    """The anonymous visitors linked to the person: named by their ``identity.linked`` events and
    linked to them (a visitor linked to someone else first is that person's, not erased here)."""
    events = event_log.customer_events(customer_id, limit=10**9)
    named = {identity.anonymous_customer(str(e.properties["anonymous_id"])) for e in events if e.type == identity.LINKED}
    return {visitor for visitor, owner in identities.links(named).items() if owner == customer_id}


def _visitors_pass(visitors: list[str]) -> dict[str, int]:
    """The events kept under the person's visitor ids, then the links that name the person (in
    this order: a pass that dies between them finds the visitors again by their links)."""
    deleted = sum(tables.delete_events(v) for v in visitors)
    for visitor in visitors:
        identities.forget(visitor)
    return {"visitor_events": deleted, "identity_links": len(visitors)}


def _archive_day(bucket: str, day: str, customer_id: str | frozenset[str]) -> dict[str, int]:
    """The day's archive objects without the person's lines (see :func:`_scrub`)."""

    def clean(body: bytes) -> tuple[bytes, int]:
        kept, removed = rules.without_customer(gzip.decompress(body), customer_id)
        return (gzip.compress(kept, mtime=0) if kept.strip() else b""), removed

    files, lines = _scrub(bucket, f"{ARCHIVE_PREFIX}dt={day}/", lambda key, body: clean(body))
    return {"archive_objects_rewritten": files, "archive_lines": lines}


def _scrub(bucket: str, prefix: str, clean: Callable[[str, bytes], tuple[bytes, int]]) -> tuple[int, int]:
    """Every object under ``prefix`` without what ``clean`` removes (it answers the new body, empty
    for none, and how much went): an object that held some is written again as its only version
    (its older versions deleted), or deleted with all its versions when nothing is left; an older
    version that holds some (a retry after a crash between the write and the deletes) is deleted.
    Returns the objects changed and what was removed."""
    s3 = client("s3")
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for version in objects.versions(bucket, prefix):
        if not version.get("DeleteMarker"):
            by_key[version["Key"]].append(version)
    changed = removed = 0
    for key, found in sorted(by_key.items()):
        for version in sorted(found, key=lambda v: not v["IsLatest"]):  # the current one first
            answer = s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
            kept, gone = clean(key, answer["Body"].read())
            if not gone:
                continue
            changed, removed = changed + 1, removed + gone
            if not version["IsLatest"]:
                objects.delete_versions(bucket, [(key, version["VersionId"])])
            elif not kept:
                objects.erase_object(bucket, key)
                break
            else:
                put = {k: answer[k] for k in ("ContentType", "ContentEncoding") if answer.get(k)}
                objects.replace_object(bucket, key, kept, **put)
                break  # its older versions went with it
    return changed, removed


def _imports(bucket: str, customer_id: str) -> dict[str, int]:
    """Import files (kept under ``imports/`` with their reports) that name the person, deleted
    with every version: the events they brought are erased, and a file cannot be rewritten in
    place (a new version is a new import). Their reports stay (counts and line numbers)."""
    s3 = client("s3")
    name = re.compile(rb"(?<![\w.@-])" + re.escape(customer_id.encode()) + rb"(?![\w.@-])")
    erased = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=IMPORT_PREFIX):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(IMPORT_SUFFIXES) and _names(s3.get_object(Bucket=bucket, Key=key)["Body"], name, len(customer_id)):
                objects.erase_object(bucket, key)
                erased += 1
    return {"import_files": erased}


def _names(body: Any, name: re.Pattern[bytes], length: int) -> bool:
    """Whether a streamed object names the id (read in 1 MiB chunks, never whole)."""
    tail = b""
    for chunk in body.iter_chunks(chunk_size=1 << 20):
        window = tail + chunk
        if name.search(window):
            return True
        tail = window[-(length + 2) :]
    return False


# ------------------------------------------------------------------ the second pass (the snapshot job)


def waiting() -> int:
    """How many erasures wait for their second pass."""
    return len(tables.awaiting_snapshot())


def after_snapshot(bucket: str, current: dict[str, Any], pending: str | None) -> tuple[int, int]:
    """Finish the erasures whose first pass ended by the time the ``current`` snapshot was
    exported: delete every other snapshot run's objects and exports (not the one under way,
    ``pending``, exported after them too) and the erased rows of audience exports, publications
    and Athena's results. Returns how many erasures were completed and how many still wait."""
    waiting = tables.awaiting_snapshot()
    due = [(eid, data) for eid, ended, data in waiting if ended <= current["exported_at"]]
    if not due:
        return 0, len(waiting)
    keep = {current["run"], pending}
    digests = frozenset(str(d["id_digest"]) for _, d in due)
    found: dict[str, int] = {}
    _count(found, _old_runs(bucket, keep))
    for prefix in (AUDIENCE_EXPORTS_PREFIX, PUBLICATIONS_PREFIX, QUERY_RESULTS_PREFIX):
        _count(found, _filter_files(bucket, prefix, digests))
    for erasure_id, data in due:
        data.update(status="complete", completed_at=clock.iso(clock.now()))
        _count(data.setdefault("erased", {}), {f"snapshot_{k}": v for k, v in found.items()})
        tables.save_record(erasure_id, data)
    return len(due), len(waiting) - len(due)


def _run_of(key: str) -> str | None:
    parts = key.split("/")
    if key.startswith(AUDIENCE_TABLES_PREFIX):
        return parts[1] if len(parts) > 2 else None
    return parts[2] if len(parts) > 3 else None  # exports/<table>/<run>/...


def _old_runs(bucket: str, keep: set[str | None]) -> dict[str, int]:
    gone: list[tuple[str, str]] = []
    for prefix in (AUDIENCE_TABLES_PREFIX, EXPORTS_PREFIX):
        gone += [(v["Key"], v["VersionId"]) for v in objects.versions(bucket, prefix) if _run_of(v["Key"]) not in keep]
    return {"run_object_versions": objects.delete_versions(bucket, gone)}


def _filter_files(bucket: str, prefix: str, digests: frozenset[str]) -> dict[str, int]:
    """The files without the erased rows (only those that held one are written again: the files
    of the current snapshot hold none). No S3 time is compared with the stack's clock."""

    def clean(key: str, body: bytes) -> tuple[bytes, int]:
        kind = rules.export_kind(key)
        return rules.without_rows(body, kind, digests) if kind else (body, 0)

    files, rows = _scrub(bucket, prefix, clean)
    return {"export_files_rewritten": files, "export_rows": rows}
