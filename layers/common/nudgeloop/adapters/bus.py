"""Publishing to the EventBridge bus: 10 entries per PutEvents, failed entries retried."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nudgeloop.adapters.aws import client

MAX_ENTRIES = 10
ATTEMPTS = 4


@dataclass(frozen=True)
class BusEvent:
    source: str
    detail_type: str
    detail: dict[str, Any]


class Publisher(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> None: ...


class PublishError(RuntimeError):
    pass


class EventBridgePublisher:
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name
        self.calls = 0

    def publish(self, events: Sequence[BusEvent]) -> None:
        for start in range(0, len(events), MAX_ENTRIES):
            self._put([self._entry(e) for e in events[start : start + MAX_ENTRIES]])

    def _entry(self, event: BusEvent) -> dict[str, Any]:
        return {
            "EventBusName": self.bus_name,
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, separators=(",", ":"), default=str),
        }

    def _put(self, entries: list[dict[str, Any]]) -> None:
        for attempt in range(ATTEMPTS):
            self.calls += 1
            result = client("events").put_events(Entries=entries)
            if not result.get("FailedEntryCount"):
                return
            entries = [e for e, r in zip(entries, result["Entries"], strict=True) if r.get("ErrorCode")]
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise PublishError(f"{len(entries)} bus entries failed after {ATTEMPTS} attempts")
