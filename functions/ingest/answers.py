"""The API's answers: an error (a JSON body naming the field and the reason, docs/api.md), a
paged listing, a service's answer with its headers, and the ``limit`` of a query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from nudgeloop.services import cursors
from nudgeloop.services.audience_members import Answer


def error(status: int, field: str | None, reason: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"field": field, "reason": reason}},
    )


def whole(raw: str | None, default: int, largest: int) -> int | None:
    """A query's ``limit``: ``default`` when absent, None unless a whole number from 1 to
    ``largest`` (ASCII digits only, "²".isdigit() is true; and short: int() of 5,000 digits is refused)."""
    text = raw or str(default)
    if not (text.isascii() and text.isdigit() and len(text) <= 3) or not 1 <= int(text) <= largest:
        return None
    return int(text)


def page(query: Callable[[str], str | None], read: Callable[[int, str | None], dict[str, Any]]) -> Response[Any]:
    """A paged listing: ``limit`` (1-100, default 50) and ``cursor`` from the query, refused
    with the field named."""
    limit = whole(query("limit"), 50, 100)
    if limit is None:
        return error(400, "limit", "limit must be a whole number from 1 to 100")
    try:
        found = read(limit, query("cursor"))
    except cursors.BadCursor as exc:
        return error(400, "cursor", str(exc))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


def reply(found: Answer, location: str | None = None) -> Response[Any]:
    """A service's answer (status, body, Retry-After) as the API's, with a ``Location``."""
    headers = {"Retry-After": str(found.retry_after_s)} if found.retry_after_s else {}
    if location:
        headers["Location"] = location
    return Response(
        status_code=found.status, content_type=content_types.APPLICATION_JSON, body=found.body, headers=headers or None
    )
