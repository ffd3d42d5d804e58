"""The edge of response management: validate a batch and store each event exactly once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.dal import customer_store, event_log
from nudgeloop.domain.events import (
    MAX_ATTRIBUTES,
    MAX_BODY_BYTES,
    MAX_BOOKINGS,
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


def parse_object(
    body: str | bytes | None, what: str = "body", shape: str = "body must be a JSON object", limit: int = MAX_BODY_BYTES
) -> dict[str, Any]:
    """A JSON object body of at most ``limit`` bytes; ``what``/``shape`` name a non-object."""
    if not body:
        raise BadRequest("body", "request body is empty")
    raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    if len(raw) > limit:  # bytes, not characters
        raise BadRequest("body", f"request body exceeds {limit} bytes", status=413)
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise BadRequest(what, shape)
    return payload


MAX_JSON_DEPTH = 32  # objects and arrays nested deeper than any event needs are refused
MAX_NUMBER_CHARS = 40  # numbers longer than this are no amount, count or id we could use


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _number(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    digits = text.lstrip("-")
    return int(text) if digits.isascii() and digits.isdigit() else float(text)


def _depth(text: bytes) -> int:
    """How deeply brackets nest, outside strings (checked before parsing: no recursion)."""
    if text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper: no need to walk it
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_json(raw: bytes) -> Any:
    """Strict JSON of a request: no NaN or Infinity, bounded numbers and nesting, so that what is
    accepted can be stored, served back as valid JSON and computed with; anything else is a 400."""
    if _depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_constant, parse_int=_number, parse_float=_number)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("body", f"malformed JSON: {exc}") from exc
    except ValueError as exc:
        raise BadRequest("body", f"unusable JSON: {exc}") from exc


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


def over_capacity(events: list[tuple[int, Event]]) -> dict[int, Rejection]:
    """The events that would make their customer hold more than a customer item can (attributes,
    bookings): refused here, per event, rather than stored and then never applied."""
    held: dict[str, tuple[set[str], set[str]]] = {}
    out: dict[int, Rejection] = {}
    for index, event in events:
        attributes = event.properties.get("attributes") if event.type == "customer.upserted" else None
        booking = event.properties.get("booking_id") if event.type == "service.booked" else None
        if not attributes and not booking:
            continue
        if event.customer_id not in held:
            customer = customer_store.get_customer(event.customer_id)
            held[event.customer_id] = (
                set((customer.attributes or {}) if customer else {}),
                {str(b["booking_id"]) for b in (customer.bookings or [])} if customer else set(),
            )
        keys, bookings = held[event.customer_id]
        if attributes:
            after = (keys | {k for k, v in attributes.items() if v is not None}) - {k for k, v in attributes.items() if v is None}
            if len(after) > MAX_ATTRIBUTES:
                out[index] = Rejection(
                    index=index,
                    field=f"events[{index}].properties.attributes",
                    reason=f"a customer holds at most {MAX_ATTRIBUTES} attributes; this event would make it "
                    f"{len(after)} (set attributes to null to remove them)",
                )
                continue
            keys.clear()
            keys.update(after)
        if booking and str(booking) not in bookings:
            if len(bookings) >= MAX_BOOKINGS:
                out[index] = Rejection(
                    index=index,
                    field=f"events[{index}].properties.booking_id",
                    reason=f"a customer holds at most {MAX_BOOKINGS} current bookings",
                )
                continue
            bookings.add(str(booking))
    return out


def accept_batch(raw_events: list[Any], max_future_skew_s: int, *, all_or_nothing: bool = False) -> BatchResult:
    """Validate and store each event exactly once; the events table's stream processes them.

    The conditional write is the de-duplication authority: two copies racing each other, in one
    batch or in two, store one item, and the answer says which copy was the duplicate. Once
    this returns, every accepted event is durable and will be applied (stream, retries, DLQ).
    ``all_or_nothing`` (one webhook = one statement) stores nothing when any event is rejected.
    """
    received = clock.now()
    result = BatchResult()
    checked: list[tuple[int, Event]] = []
    for index, raw in enumerate(raw_events):
        outcome = validate_event(raw, index, received, timedelta(seconds=max_future_skew_s))
        if isinstance(outcome, Rejection):
            result.rejected.append(outcome)
        else:
            checked.append((index, outcome))
    over = over_capacity(checked)
    result.rejected.extend(over.values())
    result.rejected.sort(key=lambda r: r.index)
    valid = [event for index, event in checked if index not in over]
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
    stored = _store_in_order(unique)
    for event, fresh in zip(unique, stored, strict=True):
        (result.accepted if fresh else result.duplicates).append(event)
    return result


def _store_in_order(events: list[Event]) -> list[bool]:
    """Store each event once; returns whether each was new. Customers in parallel, each
    customer's events one after the other in the request's order: the events stream then
    delivers a customer's events in the order the shop sent them (it keeps the order of writes
    per key), which the profile's rule needs (an older statement arriving after a newer one
    changes nothing)."""
    by_customer: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_customer.setdefault(event.customer_id, []).append(index)
    fresh = [False] * len(events)

    def store(indexes: list[int]) -> None:
        for index in indexes:
            fresh[index] = event_log.store_event(events[index])

    groups = list(by_customer.values())
    if len(groups) > 1:
        with ThreadPoolExecutor(max_workers=min(STORE_WORKERS, len(groups))) as pool:
            list(pool.map(store, groups))
    else:
        for group in groups:
            store(group)
    return fresh
