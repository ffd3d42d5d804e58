"""The stack's API keys in API Gateway: each key's scope is a tag of the key (``domain/access.py``).

API Gateway checks that a request's key exists, is enabled and is in the stack's usage plan,
and hands the API function the key's id (``requestContext.identity.apiKeyId``); this module
reads the key's scope once per container (a key's scope never changes and its id is never
reused, and a revoked key is refused by API Gateway before the function runs; a key found without
a scope is looked at again after a minute, in case an operator tags it), and creates, lists and
revokes keys for ``/v1/keys``. API Gateway's management API is rate-limited per account: one
``GetApiKey`` per key and container keeps it far below (docs/operations.md).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from nudgeloop.adapters.aws import client
from nudgeloop.domain import access
from nudgeloop.specs import usage_plan_name

UNSCOPED_TTL_S = 60.0
_scopes: dict[str, tuple[str | None, float]] = {}  # key id -> (scope, looked at again after)


def scope_of(key_id: str) -> str | None:
    """The scope of the key ``key_id``; None for a key without one (it may call nothing)."""
    cached = _scopes.get(key_id)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    try:
        key = client("apigateway").get_api_key(apiKey=key_id, includeValue=False)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        key = {}
    scope = (key.get("tags") or {}).get(access.SCOPE_TAG)
    found = scope if scope in access.SCOPES else None
    _scopes[key_id] = (found, float("inf") if found else time.monotonic() + UNSCOPED_TTL_S)
    return found


def _view(key: dict[str, Any], prefix: str) -> dict[str, Any]:
    tags = key.get("tags") or {}
    created: Any = key.get("createdDate")
    return {
        "key_id": key["id"],
        "name": str(key.get("name", "")).removeprefix(f"{prefix}-"),
        "scope": tags.get(access.SCOPE_TAG),
        "enabled": bool(key.get("enabled")),
        "created_at": created.isoformat() if hasattr(created, "isoformat") else created,
    }


def _ours(key: dict[str, Any], prefix: str) -> bool:
    return (key.get("tags") or {}).get(access.STACK_TAG) == prefix


def list_keys(prefix: str) -> list[dict[str, Any]]:
    """The stack's keys (never their values), by name."""
    found: list[dict[str, Any]] = []
    for page in client("apigateway").get_paginator("get_api_keys").paginate(includeValues=False):
        found.extend(_view(k, prefix) for k in page.get("items", []) if _ours(k, prefix))
    return sorted(found, key=lambda k: (k["name"], k["key_id"]))


def _usage_plan_id(prefix: str) -> str:
    name = usage_plan_name(prefix)
    for page in client("apigateway").get_paginator("get_usage_plans").paginate():
        for plan in page.get("items", []):
            if plan.get("name") == name:
                return str(plan["id"])
    raise LookupError(f"the usage plan {name} does not exist")


def create(prefix: str, asked: access.KeyRequest) -> dict[str, Any]:
    """A new enabled key of ``asked.scope`` in the stack's usage plan: its view and its value
    (shown this once). A key that could not be added to the plan is deleted again."""
    gateway = client("apigateway")
    plan = _usage_plan_id(prefix)
    tags = {access.SCOPE_TAG: asked.scope, access.STACK_TAG: prefix}
    key = gateway.create_api_key(name=access.key_name(prefix, asked.name), enabled=True, tags=tags)  # tagged on create
    try:
        gateway.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    except Exception:
        gateway.delete_api_key(apiKey=key["id"])
        raise
    return {**_view({**key, "tags": tags}, prefix), "value": key["value"]}


def revoke(prefix: str, key_id: str) -> dict[str, Any] | None:
    """Delete the stack's key ``key_id`` (API Gateway refuses it from then on): its view, None if
    the stack has no such key."""
    gateway = client("apigateway")
    try:
        key = gateway.get_api_key(apiKey=key_id, includeValue=False)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return None
        raise
    if not _ours(key, prefix):
        return None
    gateway.delete_api_key(apiKey=key_id)
    _scopes.pop(key_id, None)
    return _view(key, prefix)
