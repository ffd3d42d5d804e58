"""A small HTTP client for a running local stack or a deployed API (``--url`` / ``NUDGELOOP_URL``,
``NUDGELOOP_API_KEY``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8787"


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("NUDGELOOP_URL") or DEFAULT_URL).rstrip("/")


class Client:
    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        self.url = resolve_url(url)
        self.api_key = api_key or os.environ.get("NUDGELOOP_API_KEY") or "local-admin-key-for-development"

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        key: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        status, body = self.send(method, path, payload, key=key, raw=raw, headers=headers)
        try:
            return status, json.loads(body) if body else None
        except json.JSONDecodeError:
            return status, body.decode(errors="replace")

    def send(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        key: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """The answer's status and body as sent (a file, not JSON)."""
        data = raw if raw is not None else None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - local URL
        req.add_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if key:
            req.add_header("x-api-key", self.api_key)
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:  # noqa: S310
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            body, status = err.read(), err.code
        return status, body

    def events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        status, body = self.request("POST", "/v1/events", {"events": events})
        if status != 202:
            raise RuntimeError(f"POST /v1/events answered {status}: {body}")
        return dict(body)

    def advance(self, **units: float) -> dict[str, Any]:
        status, body = self.request("POST", "/_local/clock/advance", units, key=False)
        if status != 200:
            raise RuntimeError(f"clock advance answered {status}: {body}")
        return dict(body)
