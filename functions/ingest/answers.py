"""The API's error answer: a JSON body naming the field and the reason (docs/api.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types


def error(status: int, field: str | None, reason: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"field": field, "reason": reason}},
    )
