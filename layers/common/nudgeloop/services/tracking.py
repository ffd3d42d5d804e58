"""The Segment-compatible tracking API (``/segment/v1/...``): messages in, our events stored.

A batch is taken as a whole unless it cannot be read at all (malformed JSON, no ``batch``
array, too large): Segment's clients drop a batch answered with a 4xx other than 408/429, so a
message that cannot be mapped or validated is reported in the answer and skipped, never the
batch refused for it. Events of a visitor already linked to a customer are stored as the
customer's; the others are kept under the visitor (services/identities).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.domain import segment
from nudgeloop.domain.events import Rejection, validate_event
from nudgeloop.services import identities, ingest
from nudgeloop.services.ingest import BadRequest

MAX_BODY_BYTES = 4_500_000  # RudderStack sends up to 4 MiB; Lambda takes 6 MB of event, the body JSON-escaped in it
MAX_MESSAGES = 2_500


def write_key(headers: dict[str, str], payload: dict[str, Any] | None) -> str | None:
    """The write key: HTTP Basic's user name (the Python clients), else the body's ``writeKey``
    (analytics.js)."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "") or ""
    scheme, _, encoded = auth.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            user = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return user
    key = (payload or {}).get("writeKey")
    return key if isinstance(key, str) and key else None


def read(body: str | bytes | None, kind: str) -> tuple[list[Any], Any, dict[str, Any]]:
    """(messages, the batch's ``sentAt``, the payload) of a ``/v1/batch`` (``kind`` "batch")
    or single-message body (``kind`` its type)."""
    payload = ingest.parse_object(body, limit=MAX_BODY_BYTES)
    if kind != "batch":
        return [{**payload, "type": payload.get("type") or kind}], payload.get("sentAt"), payload
    messages = payload.get("batch")
    if not isinstance(messages, list):
        raise BadRequest("batch", 'body must be an object with a "batch" array')
    if len(messages) > MAX_MESSAGES:
        raise BadRequest("batch", f"at most {MAX_MESSAGES} messages per batch", status=413)
    return messages, payload.get("sentAt"), payload


def accept(messages: list[Any], sent_at: Any, max_future_skew_s: int) -> dict[str, Any]:
    """Map, validate and store the messages; the answer counts them and names every skipped one."""
    received = clock.now()
    skipped: list[dict[str, Any]] = []
    raws: list[dict[str, Any]] = []
    origin: list[int] = []  # the message each raw event comes from
    for index, message in enumerate(messages):
        mapped = segment.map_message(message, sent_at, received)
        if mapped.reason is not None:
            skipped.append(_skipped(index, message, mapped.field or "", mapped.reason))
            continue
        raws += mapped.events
        origin += [index] * len(mapped.events)
    resolved = identities.resolve(raws)
    dropped: list[dict[str, Any]] = []
    for position, raw in enumerate(resolved):
        if raw["type"] == "customer.upserted":
            for field, reason in _without_bad_traits(raw, received, max_future_skew_s):
                dropped.append(_skipped(origin[position], messages[origin[position]], field, reason, raw["type"]))
    result = ingest.accept_batch(resolved, max_future_skew_s) if resolved else ingest.BatchResult()
    for rejection in result.rejected:  # a mapped event our validation refuses: its message is named
        field = rejection.field.removeprefix(f"events[{rejection.index}]").lstrip(".")
        message = messages[origin[rejection.index]]
        skipped.append(_skipped(origin[rejection.index], message, field, rejection.reason, resolved[rejection.index]["type"]))
    skipped.sort(key=lambda s: s["index"])
    return {
        "success": True,
        "accepted": len(result.accepted),
        "duplicates": len(result.duplicates),
        "skipped": skipped,
        "dropped": dropped,
    }


MAX_DROPPED_TRAITS = 10


def _without_bad_traits(raw: dict[str, Any], received: datetime, max_future_skew_s: int) -> list[tuple[str, str]]:
    """Take out of a mapped profile each trait our validation refuses (a birthday that is no
    date, an address that is no mailbox), so that the rest of an identify is kept; what was
    taken out, each (field, reason). A tracker sends whatever the page knew: one bad trait
    should not lose the others (the answer names it under ``dropped``)."""
    taken: list[tuple[str, str]] = []
    while len(taken) < MAX_DROPPED_TRAITS:
        outcome = validate_event(raw, 0, received, timedelta(seconds=max_future_skew_s))
        if not isinstance(outcome, Rejection) or not outcome.field.startswith("events[0].properties."):
            return taken
        path = outcome.field.removeprefix("events[0].properties.").split(".")
        props = raw["properties"]
        holder = props.get("attributes") if path[0] == "attributes" and len(path) > 1 else props
        key = path[1] if holder is not props else path[0]
        if not isinstance(holder, dict) or key not in holder:
            return taken
        holder.pop(key)
        taken.append((outcome.field.removeprefix("events[0]."), outcome.reason))
    return taken


def _skipped(index: int, message: Any, field: str, reason: str, mapped: str | None = None) -> dict[str, Any]:
    message_id = message.get("messageId") if isinstance(message, dict) else None
    out = {"index": index, "messageId": message_id if isinstance(message_id, str) else None, "field": field, "reason": reason}
    if mapped:
        out["event"] = mapped
    return out
