"""The one clock.

Every piece of domain and handler code asks this module for the time. In AWS it is the system
clock; the local runtime swaps in a :class:`SimulatedClock` so days can pass in seconds and tests
are deterministic. This module is the only place that reads the wall clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time_ns() / 1e9, tz=UTC)


class SimulatedClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            if moment < self._now:
                raise ValueError("a simulated clock never goes backwards")
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            if delta < timedelta(0):
                raise ValueError("a simulated clock never goes backwards")
            self._now = self._now + delta
            return self._now


_current: Clock = SystemClock()


def use(clock: Clock) -> Clock:
    """Install ``clock`` as the process-wide clock; returns the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


def current() -> Clock:
    return _current


def now() -> datetime:
    return _current.now()


def today() -> date:
    return _current.now().date()


def iso(moment: datetime) -> str:
    """The one canonical form of an instant, stored and compared as text everywhere: RFC 3339 in
    UTC, always with milliseconds (``2026-01-01T09:00:00.000Z``), so that text order is time order
    (``isoformat()`` drops a zero fraction, and ``...:00Z`` would sort after ``...:00.500Z``).
    Finer fractions are truncated: statements within one millisecond are simultaneous."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset")
    return value.astimezone(UTC)
