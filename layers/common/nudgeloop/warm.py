"""What a warm Lambda container keeps between invocations, registered in one place.

A module that caches across invocations (parsed campaigns, fetched templates, compiled Jinja
environments) says here how to forget it. A fresh container has none of it; nor must a new
local stack that reuses the process (``forget_all``), so no previous stack's content leaks into
one with the same resource names.
"""

from __future__ import annotations

from collections.abc import Callable

_forgetters: list[Callable[[], None]] = []


def keeps(forget: Callable[[], None]) -> None:
    """Register how to forget a cache this module keeps across invocations."""
    _forgetters.append(forget)


def forget_all() -> None:
    for forget in _forgetters:
        forget()
