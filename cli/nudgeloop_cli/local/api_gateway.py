"""API Gateway in front of the ingest function: routes of the catalog, the API key (an enabled
key of the stack's usage plan; its id handed to the function, which checks the key's scope), the
proxy event, and API Gateway's own answers (403 for an unknown route or a wrong key, 502 for a
function error)."""

from __future__ import annotations

import gzip
import json
import re
import uuid
import zlib
from typing import TYPE_CHECKING, Any

from nudgeloop.specs import usage_plan_name

from .base import REGION, error_type
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack


def decompressed(data: bytes, coding: str | None) -> bytes:
    """A request body as API Gateway hands it on: gzip, deflate and identity are decoded
    (docs: "Call an API method with a compressed payload"); ValueError for anything else."""
    name = (coding or "identity").strip().lower()
    try:
        if name == "gzip":
            return gzip.decompress(data)
        if name == "deflate":
            return zlib.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"not {name}-coded") from exc
    if name == "identity":
        return data
    raise ValueError(f"unsupported content coding {name!r}")


class ApiGateway:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def api(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        query: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """What API Gateway does in front of the ingest function: route, API key, proxy event.
        ``data``: the body as sent (a compressed one is decompressed first, as API Gateway does)."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if data is not None:
            try:
                body = decompressed(data, headers.get("content-encoding")).decode("utf-8", errors="replace") or None
            except ValueError:  # API Gateway's answer to a coding it lacks or a body not so coded
                return 415, {"content-type": "application/json"}, json.dumps({"message": "Unsupported Media Type"})
        route = self._match_route(method, path)
        if route is None:  # what API Gateway answers for a path or method it does not have
            return 403, {"content-type": "application/json"}, json.dumps({"message": "Missing Authentication Token"})
        spec, params = route
        key_id = self._key_id(headers.get("x-api-key")) if spec.api_key_required else None
        if spec.api_key_required and key_id is None:
            return 403, {"content-type": "application/json"}, json.dumps({"message": "Forbidden"})
        event = {
            "resource": spec.path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": spec.path,
                "httpMethod": method,
                "path": f"/prod{path}",
                "stage": "prod",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": "127.0.0.1", "apiKey": headers.get("x-api-key"), "apiKeyId": key_id},
                "requestTimeEpoch": int(self.stack.clock.now().timestamp() * 1000),
            },
            "body": body,
            "isBase64Encoded": False,
        }
        try:
            response = self.stack.call("ingest_api", event)
        except Exception as exc:  # a function error: API Gateway's answer to a failed proxy integration
            self.stack.failed("ingest_api", error_type(exc), str(exc))
            return 502, {"content-type": "application/json"}, json.dumps({"message": "Internal server error"})
        out_headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name.lower()] = ", ".join(values)
        return int(response["statusCode"]), out_headers, response.get("body") or ""

    def _key_id(self, value: str | None) -> str | None:
        """The id of the enabled key of this value in the stack's usage plan, as API Gateway
        checks it (moto holds the keys: the API's /v1/keys creates and deletes them there)."""
        if not value:
            return None
        from moto.apigateway.models import apigateway_backends

        backend = apigateway_backends[ACCOUNT][REGION]
        plan_name = usage_plan_name(self.stack.catalog.prefix)
        planned = {k for p in backend.usage_plans.values() if p.name == plan_name for k in backend.usage_plan_keys.get(p.id, {})}
        for key in list(backend.keys.values()):
            if key.value == value and key.enabled and key.id in planned:
                return str(key.id)
        return None

    def _match_route(self, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
        for route in self.stack.catalog.routes:
            if route.method != method:
                continue
            pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"
            found = re.match(pattern, path)
            if found:
                return route, found.groupdict()
        return None
