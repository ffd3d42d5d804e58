"""The audience routes of the HTTP API: saved audiences, their members and exports, and the
broadcasts to them (``services/audience_*``, ``services/broadcasts``)."""

from __future__ import annotations

import re
from typing import Any

from access_routes import actor  # the function's own modules: on Lambda's path with it
from answers import error as _error
from answers import page, reply, whole
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from nudgeloop.config import settings
from nudgeloop.dal import audit
from nudgeloop.domain import audiences as audience_rules
from nudgeloop.domain import broadcasts as broadcast_rules
from nudgeloop.observability import tracer
from nudgeloop.services import audience_exports, audience_members, audience_store, broadcasts, cursors, ingest
from nudgeloop.services.audiences import InvalidAudience

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # its __init__ is unannotated
AUDIENCE_ID = re.compile(audience_rules.AUDIENCE_ID)
EXPORT_ID = re.compile(r"[0-9a-f]{16}")
BROADCAST_ID = re.compile(broadcast_rules.BROADCAST_ID)


@router.put("/v1/audiences/<audience_id>")
@tracer.capture_method
def put_audience(audience_id: str) -> Response[Any]:
    """A saved audience's definition (YAML or JSON), stored as its newest version when valid."""
    if not AUDIENCE_ID.fullmatch(audience_id):
        return _error(400, "audience_id", "audience ids are a-z, 0-9 and -, at most 64, starting with a letter or digit")
    body = router.current_event.decoded_body or ""
    if not body.strip():
        return _error(400, "body", "request body is empty: send the audience definition (YAML or JSON)")
    try:
        uploaded_by = router.current_event.headers.get("x-uploaded-by")
        stored = audience_store.put(settings().campaigns_bucket, audience_id, body, uploaded_by)
    except InvalidAudience as exc:
        return Response(
            status_code=400,
            content_type=content_types.APPLICATION_JSON,
            body={"error": {"field": exc.field, "reason": exc.reason, "line": exc.line}},
        )
    audit.record("audience", audience_id, "saved", actor(router), {"version": stored["version"], "uploaded_by": uploaded_by})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=stored)


@router.get("/v1/audiences")
@tracer.capture_method
def list_audiences() -> Response[Any]:
    body = {"audiences": audience_store.listing(settings().campaigns_bucket)}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@router.get("/v1/audiences/<audience_id>")
@tracer.capture_method
def get_audience(audience_id: str) -> Response[Any]:
    found = audience_store.get(settings().campaigns_bucket, audience_id) if AUDIENCE_ID.fullmatch(audience_id) else None
    if found is None:
        return _error(404, "audience_id", "no such audience")
    found["versions"] = audience_store.versions(settings().campaigns_bucket, audience_id)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


@router.get("/v1/audiences/<audience_id>/members")
@tracer.capture_method
def get_audience_members(audience_id: str) -> Response[Any]:
    """The members of a saved audience, evaluated by Athena over the current snapshot: 202 with
    Retry-After while the evaluation runs, then pages of ``limit`` (1-500, default 100)."""
    if not AUDIENCE_ID.fullmatch(audience_id):
        return _error(404, "audience_id", "no such audience")
    query = router.current_event.get_query_string_value
    limit = whole(query("limit"), 100, 500)
    if limit is None:
        return _error(400, "limit", "limit must be a whole number from 1 to 500")
    refresh = (query("refresh") or "false").lower()
    if refresh not in ("true", "false"):
        return _error(400, "refresh", "refresh is true or false")
    try:
        answer = audience_members.members(settings().campaigns_bucket, audience_id, limit, query("cursor"), refresh == "true")
    except cursors.BadCursor as exc:
        return _error(400, "cursor", str(exc))
    return reply(answer)


@router.post("/v1/audiences/<audience_id>/exports")
@tracer.capture_method
def post_audience_export(audience_id: str) -> Response[Any]:
    """Start an export of a saved audience (format, columns): 202 with the export to poll."""
    if not AUDIENCE_ID.fullmatch(audience_id):
        return _error(404, "audience_id", "no such audience")
    body = ingest.parse_object(router.current_event.body or "{}")
    answer = audience_exports.request(settings().campaigns_bucket, audience_id, body)
    return reply(
        answer, location=f"/v1/audiences/{audience_id}/exports/{answer.body['export_id']}" if answer.status == 202 else None
    )


@router.get("/v1/audiences/<audience_id>/exports")
@tracer.capture_method
def list_audience_exports(audience_id: str) -> Response[Any]:
    """The audience's exports and daily publications, newest first (the delivery report)."""
    if not AUDIENCE_ID.fullmatch(audience_id):
        return _error(404, "audience_id", "no such audience")
    return page(
        router.current_event.get_query_string_value, lambda limit, cursor: audience_exports.listing(audience_id, limit, cursor)
    )


@router.get("/v1/audiences/<audience_id>/exports/<export_id>")
@tracer.capture_method
def get_audience_export(audience_id: str, export_id: str) -> Response[Any]:
    """An export: 202 while it runs, then its outcome and a time-limited download link."""
    if not (AUDIENCE_ID.fullmatch(audience_id) and EXPORT_ID.fullmatch(export_id)):
        return _error(404, "export_id", "no such export")
    return reply(audience_exports.status(settings().data_bucket, audience_id, export_id))


@router.post("/v1/broadcasts")
@tracer.capture_method
def post_broadcast() -> Response[Any]:
    """A newsletter to a saved audience, now or at ``send_at``; ``broadcast_id`` is the
    idempotency key. With ``test_to``, one test mail to that address instead."""
    answer = broadcasts.request(ingest.parse_object(router.current_event.body))
    location = f"/v1/broadcasts/{answer.body['broadcast_id']}" if answer.status == 202 else None
    return reply(answer, location=location)


@router.get("/v1/broadcasts/<broadcast_id>")
@tracer.capture_method
def get_broadcast(broadcast_id: str) -> Response[Any]:
    if not BROADCAST_ID.fullmatch(broadcast_id):
        return _error(404, "broadcast_id", "no such broadcast")
    return reply(broadcasts.status(broadcast_id))
