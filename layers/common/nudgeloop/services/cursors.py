"""Paging cursors the API gives out: opaque to clients, tied to the listing they came from."""

from __future__ import annotations

import base64
import binascii
import json


class BadCursor(ValueError):
    pass


def encode(listing: str, position: tuple[str, str] | None) -> str | None:
    """The cursor of the next page of ``listing`` after ``position`` (None: no next page)."""
    if position is None:
        return None
    key = {"c": listing, "at": position[0], "id": position[1]}
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode(cursor: str | None, listing: str) -> tuple[str, str] | None:
    """The position a cursor of ``listing`` stands for; raises ``BadCursor`` for anything else."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error) as exc:
        raise BadCursor("cursor is not one this API gave out") from exc
    if not isinstance(key, dict) or not isinstance(key.get("at"), str) or not isinstance(key.get("id"), str):
        raise BadCursor("cursor is not one this API gave out")
    if key.get("c") != listing:
        raise BadCursor("cursor belongs to another listing")
    return key["at"], key["id"]
