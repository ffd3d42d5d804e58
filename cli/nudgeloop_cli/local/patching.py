"""How the local runtime replaces parts of moto: each replacement recorded, so that moto as
shipped can be brought back for the tests that compare its answers with ours."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Replacements:
    def __init__(self, restored: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._made: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, moto's value, ours)
        self._restored = restored  # called when moto as shipped has run (caches of ours are stale)

    def install(self, *replace_all: Callable[[], None]) -> None:
        """Run each ``replace_all`` once per process (idempotent)."""
        with self._lock:
            if self._made:
                return
            for replace in replace_all:
                replace()

    def replace(self, owner: Any, name: str, value: Any) -> None:
        self._made.append((owner, name, getattr(owner, name), value))
        setattr(owner, name, value)

    @contextmanager
    def as_shipped(self) -> Iterator[None]:
        """moto as it ships, for the tests that compare its answers with ours."""
        with self._lock:
            for owner, name, shipped, _ours in reversed(self._made):
                setattr(owner, name, shipped)
            try:
                yield
            finally:
                if self._restored is not None:
                    self._restored()
                for owner, name, _shipped, ours in self._made:
                    setattr(owner, name, ours)
