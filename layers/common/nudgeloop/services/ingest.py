"""The edge of response management: validate a batch, report duplicates, queue the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import repo
from nudgeloop.domain.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    Event,
    Rejection,
    validate_event,
)


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


def parse_batch(body: str | bytes | None) -> list[Any]:
    if body is None or body == "" or body == b"":
        raise BadRequest("body", "request body is empty")
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("body", f"request body exceeds {MAX_BODY_BYTES} bytes", status=413)
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("body", f"malformed JSON: {exc}") from exc
    if not isinstance(payload, dict) or "events" not in payload:
        raise BadRequest("events", 'body must be an object with an "events" array')
    events = payload["events"]
    if not isinstance(events, list):
        raise BadRequest("events", "events must be an array")
    if not events:
        raise BadRequest("events", "events must not be empty")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise BadRequest("events", f"at most {MAX_EVENTS_PER_BATCH} events per request", status=413)
    return events


def accept_batch(raw_events: list[Any], queue_url: str, max_future_skew_s: int) -> BatchResult:
    """Validate, de-duplicate at the edge, and queue accepted events durably.

    Duplicates known here (already stored, or repeated within the batch) are reported; copies
    racing each other are de-duplicated again by the processor's conditional write.
    """
    received = clock.now()
    result = BatchResult()
    seen: set[tuple[str, str]] = set()
    valid: list[Event] = []
    for index, raw in enumerate(raw_events):
        outcome = validate_event(raw, index, received, timedelta(seconds=max_future_skew_s))
        if isinstance(outcome, Rejection):
            result.rejected.append(outcome)
            continue
        key = (outcome.customer_id, outcome.event_id)
        if key in seen:
            result.duplicates.append(outcome)
            continue
        seen.add(key)
        valid.append(outcome)
    stored = repo.stored_event_ids([(e.customer_id, e.event_id) for e in valid]) if valid else set()
    for event in valid:
        if (event.customer_id, event.event_id) in stored:
            result.duplicates.append(event)
        else:
            result.accepted.append(event)
    enqueue(result.accepted, queue_url)
    return result


def enqueue(events: list[Event], queue_url: str) -> None:
    """SendMessageBatch, 10 per call; any entry SQS refuses is retried, then raises."""
    sqs = client("sqs")
    for start in range(0, len(events), 10):
        chunk = {str(i): e for i, e in enumerate(events[start : start + 10])}
        for _attempt in range(3):
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": i, "MessageBody": e.to_message()} for i, e in chunk.items()],
            )
            failed = {f["Id"] for f in response.get("Failed", [])}
            chunk = {i: e for i, e in chunk.items() if i in failed}
            if not chunk:
                break
        if chunk:
            raise RuntimeError(f"could not queue {len(chunk)} events")
