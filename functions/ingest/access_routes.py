"""Who may do what on the HTTP API, and who did: the scope check every keyed route passes
(``domain/access.py``), ``/v1/keys`` (create, list, revoke) and ``/v1/audit`` (the audit trail,
``domain/audit.py``); admin keys only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from answers import error as _error  # the function's own modules: on Lambda's path with it
from answers import whole
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import ValidationError

from nudgeloop.adapters import api_keys
from nudgeloop.dal import audit
from nudgeloop.domain import access
from nudgeloop.domain import audit as audit_rules
from nudgeloop.observability import logger
from nudgeloop.services import cursors
from nudgeloop.specs import RouteSpec

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # its __init__ is unannotated


def scope_check(routes: Iterable[RouteSpec]) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    """The middleware that lets a request through only if its key's scope admits the route
    (keyless routes have their own verification); 403 naming the scope it lacks otherwise."""
    keyed = {(r.method, r.path): r.scopes for r in routes if r.api_key_required}

    def check(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event
        scopes = keyed.get((event.http_method, event.resource))
        if scopes is None:
            return next_middleware(app)
        key_id = event.request_context.identity.api_key_id
        scope = api_keys.scope_of(key_id) if key_id else None
        app.context["key_scope"] = scope  # for what the route does by scope (api._audit_consents); cleared per request
        logger.append_keys(api_key_id=key_id)  # who called (the audit trail's "who"), never the key itself
        if not access.allows(scope, scopes):
            body = {
                "error": {"field": "x-api-key", "reason": access.refusal(scope, scopes)},
                "needs": list(access.admitted(scopes)),
            }
            return Response(status_code=403, content_type=content_types.APPLICATION_JSON, body=body)
        return next_middleware(app)

    return check


def actor(app: APIGatewayRestResolver | APIGatewayRouter) -> str:
    """Who makes the request: its API key's id (the audit trail's actor)."""
    return audit_rules.key_actor(app.current_event.request_context.identity.api_key_id)


def _prefix() -> str:
    from nudgeloop.config import settings

    return settings().prefix


@router.post("/v1/keys")
def create_key() -> Response[Any]:
    """A new key of a scope; its value is in this answer only."""
    try:
        raw = json.loads(router.current_event.body or "")
    except ValueError:
        return _error(400, "body", 'the body is a JSON object: {"name": ..., "scope": ...}')
    try:
        asked = access.KeyRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        return _error(400, field, first["msg"])
    created = api_keys.create(_prefix(), asked)
    audit.record("key", created["key_id"], "created", actor(router), {"name": asked.name, "scope": asked.scope})
    logger.info("api key created", extra={"created_key_id": created["key_id"], "scope": created["scope"]})
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=created)


@router.get("/v1/keys")
def list_keys() -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body={"keys": api_keys.list_keys(_prefix())})


@router.delete("/v1/keys/<key_id>")
def revoke_key(key_id: str) -> Response[Any]:
    if not (key_id.isascii() and key_id.isalnum() and len(key_id) <= 64):
        return _error(404, "key_id", "no such key")
    if key_id == router.current_event.request_context.identity.api_key_id:
        return _error(409, "key_id", "a key cannot revoke itself: revoke it with another admin key")
    revoked = api_keys.revoke(_prefix(), key_id)
    if revoked is None:
        return _error(404, "key_id", "no such key")
    audit.record("key", key_id, "revoked", actor(router), {"name": revoked["name"], "scope": revoked["scope"]})
    logger.info("api key revoked", extra={"revoked_key_id": key_id})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body={**revoked, "revoked": True})


@router.get("/v1/audit")
def get_audit() -> Response[Any]:
    """The changes to one object (``?object=audience:tea-buyers``) or concerning one customer
    (``?customer=c1``), newest first, ``limit`` (1-100, default 50) a page."""
    query = router.current_event.get_query_string_value
    named, customer = query("object"), query("customer")
    if (named is None) == (customer is None):
        return _error(400, "object", "give either object (kind:id) or customer")
    if named is not None and not audit_rules.OBJECT.fullmatch(named):
        kinds = ", ".join(audit_rules.KINDS)
        return _error(400, "object", f"object is kind:id, the kind one of {kinds}")
    if customer is not None and not 0 < len(customer) <= 128:
        return _error(400, "customer", "customer is a customer id")
    limit = whole(query("limit"), 50, 100)
    if limit is None:
        return _error(400, "limit", "limit must be a whole number from 1 to 100")
    listing = f"audit:{named or ''}:{customer or ''}"
    try:
        position = cursors.decode(query("cursor"), listing)
    except cursors.BadCursor as exc:
        return _error(400, "cursor", str(exc))
    entries, last = audit.page(object_name=named, customer_id=customer, limit=limit, after=position[0] if position else None)
    body = {"entries": entries, "next": cursors.encode(listing, (last, "")) if last else None}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)
