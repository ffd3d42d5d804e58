"""Consent: the latest statement per purpose by ``occurred_at`` wins (pure)."""

from __future__ import annotations

from typing import Any

MARKETING_PURPOSES = ("newsletter", "marketing")


def apply_statement(consents: dict[str, dict[str, Any]], purpose: str, status: str, occurred_at: str, source: str) -> bool:
    """Record a statement if it is newer than the one held; returns whether it changed."""
    held = consents.get(purpose)
    if held is not None and held.get("occurred_at", "") > occurred_at:
        return False
    statement = {"status": status, "occurred_at": occurred_at, "source": source}
    if held == statement:
        return False
    consents[purpose] = statement
    return True


def allows(consents: dict[str, dict[str, Any]], purpose: str) -> bool:
    """Whether a mail of ``purpose`` may go out.

    Marketing purposes need an explicit opt-in; service mails go unless opted out.
    """
    held = consents.get(purpose)
    if purpose == "service":
        return held is None or held.get("status") != "opt_out"
    return held is not None and held.get("status") == "opt_in"
