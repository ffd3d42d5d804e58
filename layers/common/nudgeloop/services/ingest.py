"""The edge of response management: validate a batch and store each event exactly once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.dal import repo
from nudgeloop.domain.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    Event,
    Rejection,
    validate_event,
)

STORE_WORKERS = 8


class BadRequest(ValueError):
    """A client error about the request as a whole (HTTP 400/413)."""

    def __init__(self, field: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status


@dataclass
class BatchResult:
    accepted: list[Event] = field(default_factory=list)
    duplicates: list[Event] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "rejected": [r.model_dump() for r in self.rejected],
            "event_ids": [e.event_id for e in self.accepted],
        }


def parse_object(body: str | bytes | None, what: str = "body", shape: str = "body must be a JSON object") -> dict[str, Any]:
    """A JSON object body of at most ``MAX_BODY_BYTES``; ``what``/``shape`` name a non-object."""
    if not body:
        raise BadRequest("body", "request body is empty")
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("body", f"request body exceeds {MAX_BODY_BYTES} bytes", status=413)
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("body", f"malformed JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest(what, shape)
    return payload


def parse_batch(body: str | bytes | None) -> list[Any]:
    """The ``events`` array of a POST /v1/events body."""
    payload = parse_object(body, "events", 'body must be an object with an "events" array')
    if "events" not in payload:
        raise BadRequest("events", 'body must be an object with an "events" array')
    events = payload["events"]
    if not isinstance(events, list):
        raise BadRequest("events", "events must be an array")
    if not events:
        raise BadRequest("events", "events must not be empty")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise BadRequest("events", f"at most {MAX_EVENTS_PER_BATCH} events per request", status=413)
    return events


def accept_batch(raw_events: list[Any], max_future_skew_s: int, *, all_or_nothing: bool = False) -> BatchResult:
    """Validate and store each event exactly once; the events table's stream processes them.

    The conditional write is the de-duplication authority: two copies racing each other, in one
    batch or in two, store one item, and the answer says which copy was the duplicate. Once
    this returns, every accepted event is durable and will be applied (stream, retries, DLQ).
    ``all_or_nothing`` (one webhook = one statement) stores nothing when any event is rejected.
    """
    received = clock.now()
    result = BatchResult()
    valid: list[Event] = []
    for index, raw in enumerate(raw_events):
        outcome = validate_event(raw, index, received, timedelta(seconds=max_future_skew_s))
        if isinstance(outcome, Rejection):
            result.rejected.append(outcome)
        else:
            valid.append(outcome)
    if all_or_nothing and result.rejected:
        return result
    seen: set[tuple[str, str]] = set()
    unique: list[Event] = []
    for event in valid:
        key = (event.customer_id, event.event_id)
        if key in seen:
            result.duplicates.append(event)
        else:
            seen.add(key)
            unique.append(event)
    if len(unique) > 1:
        with ThreadPoolExecutor(max_workers=min(STORE_WORKERS, len(unique))) as pool:
            stored = list(pool.map(repo.store_event, unique))
    else:
        stored = [repo.store_event(e) for e in unique]
    for event, fresh in zip(unique, stored, strict=True):
        (result.accepted if fresh else result.duplicates).append(event)
    return result
