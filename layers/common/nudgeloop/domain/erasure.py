"""Erasure of a person (GDPR Art. 17; docs/privacy.md, "Erasure"): the rules, no I/O.

An erasure is known by a digest of the customer id (``erasure_id``): asking twice is one
erasure, and its record holds no id in the clear. What stays of the person is their addresses'
suppression entries (by hash, ``dal/keys.suppressed``), so that no later event with that address
makes them mailable again, and the counters they were counted in.

Two passes: the **first** (the erasure function, right after the request) deletes what is keyed
by the person in the tables, their sent mails and their lines of the raw event archive; the
**second** (the audience snapshot job, once a snapshot built after the request is current)
deletes the older snapshots and DynamoDB exports, and the person's rows of audience exports,
publications and Athena results. Copies no API can delete go by themselves (``LAST_COPIES``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta

# Copies outside the reach of any delete, each with the time after which AWS has discarded it
# (docs/privacy.md): the answer says when the last of them is gone.
LAST_COPIES: dict[str, int] = {
    "dynamodb_point_in_time_recovery": 35,  # PITR keeps 35 days of every table's history
    "step_functions_execution_history": 90,  # a closed execution's input and history, 90 days after it closed
    "api_access_logs": 90,  # the API's access logs hold the request paths (/v1/customers/<id>)
    "function_logs": 30,  # the functions' log groups (no personal data is logged, by design)
    "failures_queue": 14,  # a failed invocation of the erasure itself waits there with the id
}


def digest(value: str) -> str:
    """The SHA-256 of an identifier (a customer id as given; an address lower-cased)."""
    return hashlib.sha256(value.encode()).hexdigest()


def erasure_id(customer_id: str) -> str:
    return "er-" + digest(customer_id)[:32]


def last_copy_gone_by(requested_at: datetime) -> datetime:
    return requested_at + timedelta(days=max(LAST_COPIES.values()))


def executions_prefix(campaign_id: str, customer_id: str) -> str:
    """The start of every journey execution name of the customer in a campaign
    (``idempotency.execution_name``: campaign, the customer's digest, the occurrence's)."""
    return f"{campaign_id}-{digest(customer_id)[:20]}-"


# ------------------------------------------------------------------ removing a person's lines


def without_customer(lines: bytes, customer_id: str | frozenset[str]) -> tuple[bytes, int]:
    """JSON lines (the raw archive's events) without the customer's (or those of any of a set of
    ids: the person and the visitor ids linked to them); and how many were removed."""
    ids = frozenset({customer_id}) if isinstance(customer_id, str) else customer_id
    kept: list[bytes] = []
    removed = 0
    for line in lines.splitlines(keepends=True):
        if line.strip() and _json_customer(line) in ids:
            removed += 1
        else:
            kept.append(line)
    return b"".join(kept), removed


def _json_customer(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return str(value.get("customer_id")) if isinstance(value, dict) and "customer_id" in value else None


def without_rows(text: bytes, kind: str, id_digests: frozenset[str]) -> tuple[bytes, int]:
    """An audience export, publication or Athena result (``csv`` with a header, a row removed when
    one of its cells is an erased id; or ``jsonl``, by ``customer_id``) without the rows of the
    customers whose id digests are given; and how many were removed."""
    if kind == "jsonl":
        kept: list[bytes] = []
        removed = 0
        for line in text.splitlines(keepends=True):
            found = _json_customer(line) if line.strip() else None
            if found is not None and digest(found) in id_digests:
                removed += 1
            else:
                kept.append(line)
        return b"".join(kept), removed
    rows = list(csv.reader(io.StringIO(text.decode("utf-8"), newline="")))
    if not rows:
        return text, 0
    head, body = rows[0], rows[1:]
    kept_rows = [r for r in body if not any(digest(cell) in id_digests for cell in r)]
    if len(kept_rows) == len(body):
        return text, 0
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(kept_rows)
    return out.getvalue().encode("utf-8"), len(body) - len(kept_rows)


def export_kind(key: str) -> str | None:
    """``csv`` or ``jsonl`` for an export, publication or query result, None for anything else."""
    for kind in ("csv", "jsonl"):
        if key.endswith(f".{kind}"):
            return kind
    return None
