"""Signed tokens for unsubscribe and consent-confirmation links (HMAC-SHA256, bound to one
customer and purpose, optionally expiring)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any


class BadToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: dict[str, Any], expires_at: datetime | None = None) -> str:
    if expires_at is not None:
        claims = {**claims, "x": int(expires_at.timestamp())}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def verify(key: bytes, token: str, kind: str, now: datetime | None = None) -> dict[str, Any]:
    """The token's claims if it is ours, for this action and (given ``now``) not expired."""
    try:
        body, mac = token.split(".", 1)
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        # bytes, not str: compare_digest refuses non-ASCII strings (a forged token may hold any)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise BadToken("signature does not match")
        claims = json.loads(_unb64(body))
    except BadToken:
        raise
    except (ValueError, json.JSONDecodeError) as exc:  # never Python's own words to a client
        raise BadToken("malformed token") from exc
    if not isinstance(claims, dict):
        raise BadToken("malformed token")
    if claims.get("k") != kind:
        raise BadToken("token is not for this action")
    if now is not None and "x" in claims and now.timestamp() > float(claims["x"]):
        raise BadToken("token has expired")
    return dict(claims)
