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

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from nudgeloop import warm
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


class NotYetKnown(LookupError):
    """A key value not among the keys listed moments ago: asked again shortly, not refused."""


VALUE_TTL_S = 300.0  # a write key is looked up again after five minutes (a revoked one then stops)
RELIST_S = 5.0  # the keys are listed at most this often per container
_values: dict[str, tuple[str, str | None, float]] = {}  # sha256 of a value -> (key id, scope, until)
_listed: list[float] = [float("-inf")]


def _forget_values() -> None:
    _values.clear()
    _listed[0] = float("-inf")


warm.keeps(_forget_values)  # another local stack has other keys


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def scope_of_value(prefix: str, value: str) -> tuple[str, str | None] | None:
    """(key id, scope) of the stack's enabled key with this value (a write key sent by a tracking
    client, which API Gateway does not check: it reads keys from ``x-api-key`` only); None for a
    value no key has. API Gateway's keys are listed with their values at most every RELIST_S
    seconds per container and remembered by hash for VALUE_TTL_S; a value not found within
    RELIST_S of the last listing raises ``NotYetKnown`` (a key created just now: ask again)."""
    digest = _digest(value)
    now = time.monotonic()
    held = _values.get(digest)
    if held is not None and held[2] > now:
        return held[0], held[1]
    if now - _listed[0] < RELIST_S:
        raise NotYetKnown("keys were listed moments ago")
    _listed[0] = now
    fresh: dict[str, tuple[str, str | None, float]] = {}
    for page in client("apigateway").get_paginator("get_api_keys").paginate(includeValues=True):
        for key in page.get("items", []):
            if _ours(key, prefix) and key.get("enabled") and key.get("value"):
                scope = (key.get("tags") or {}).get(access.SCOPE_TAG)
                fresh[_digest(str(key["value"]))] = (str(key["id"]), scope if scope in access.SCOPES else None, now + VALUE_TTL_S)
    _values.clear()
    _values.update(fresh)
    found = _values.get(digest)
    return (found[0], found[1]) if found else None


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
    for digest in [d for d, held in _values.items() if held[0] == key_id]:
        _values.pop(digest)
    return _view(key, prefix)
