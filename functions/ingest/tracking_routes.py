"""The Segment-compatible tracking routes (``/segment/v1/...``, services/tracking): what Segment's
and RudderStack's libraries post, authenticated by the write key (an ``ingest`` or ``admin`` key
of the stack) in HTTP Basic or the body, since these clients send no ``x-api-key``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from answers import error as _error  # the function's own modules: on Lambda's path with it
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from nudgeloop.adapters import api_keys
from nudgeloop.config import settings
from nudgeloop.domain import access, segment
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.resources import catalog
from nudgeloop.services import tracking

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # its __init__ is unannotated
PREFIX = "/segment/v1/"
_AUTH = "Authorization"


@lru_cache(maxsize=16)
def _scopes(path: str) -> tuple[str, ...]:
    """The scopes the route admits, as the catalog names them (an API Gateway key check would)."""
    return next(r.scopes for r in catalog(settings().prefix).routes if r.path == path)


def _refusal(key: str | None) -> Response[Any] | None:
    """Why the write key may not post (401, 403, or 503 for a key not seen yet), None if it may."""
    if key is None:
        return _error(401, _AUTH, "no write key: send it as the HTTP Basic user name (or writeKey in the body)")
    try:
        found = api_keys.scope_of_value(settings().prefix, key)
    except api_keys.NotYetKnown:
        later = _error(503, _AUTH, "this write key is not known yet; retrying the same request is safe")
        later.headers["Retry-After"] = "5"
        return later
    if found is None:
        return _error(401, _AUTH, "no such write key")
    key_id, scope = found
    logger.append_keys(api_key_id=key_id)
    scopes = _scopes(router.current_event.resource)
    return None if access.allows(scope, scopes) else _error(403, _AUTH, access.refusal(scope, scopes))


def _take(kind: str) -> Response[Any]:
    event = router.current_event
    key = tracking.write_key(dict(event.headers or {}), None)
    refused = _refusal(key) if key is not None else None  # a key in HTTP Basic: checked before the body is read
    if refused is not None:
        return refused
    messages, sent_at, payload = tracking.read(event.body, kind)
    if key is None:  # analytics.js sends it in the body
        refused = _refusal(tracking.write_key({}, payload))
        if refused is not None:
            return refused
    answer = tracking.accept(messages, sent_at, settings().max_future_skew_s)
    metrics.add_metric(name="TrackingMessages", unit="Count", value=len(messages))
    for part, metric in (("skipped", "TrackingSkipped"), ("dropped", "TrackingTraitsDropped")):
        if answer[part]:  # by index and field, never a value (a trait is personal data)
            metrics.add_metric(name=metric, unit="Count", value=len(answer[part]))
            logger.warning(
                f"tracking messages {part}", extra={part: [{k: s[k] for k in ("index", "field")} for s in answer[part]]}
            )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=answer)


@router.post(PREFIX + "batch")
@tracer.capture_method
def batch() -> Response[Any]:
    return _take("batch")


def _single(kind: str) -> None:
    def route() -> Response[Any]:
        return _take(kind)

    route.__name__ = f"segment_{kind}"
    router.post(PREFIX + kind)(tracer.capture_method(route))


for _kind in segment.TYPES:
    _single(_kind)
