"""The local HTTP front door: API Gateway's routes plus the local-only control routes."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nudgeloop import clock

from .base import STOP_GRACE_S
from .runtime import SETTLE_TIMEOUT_S, LocalError, LocalStack

MAX_BODY = 10_485_760  # API Gateway's payload limit (the function's own limits apply after it)
MAX_IMPORT_BODY = 256_000_000  # a file for /_local/imports (S3 itself takes up to 5 GB a PUT)
_IMPORT_NAME = re.compile(r"(?:type=[A-Za-z0-9._-]+/)?[A-Za-z0-9][A-Za-z0-9_.-]*\.(?:csv|jsonl)")
log = logging.getLogger("nudgeloop.local")


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"content-type": "application/json"}, json.dumps(payload, default=str)


def _download(stack: LocalStack, body: str) -> tuple[int, dict[str, str], str]:
    """A presigned link to one of the stack's buckets (an export's, an archived mail's), fetched
    here: only this process's emulated S3 answers it (moto intercepts requests in process)."""
    import requests

    try:
        url = str(json.loads(body or "{}").get("url", ""))
    except (json.JSONDecodeError, AttributeError):
        return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
    parts = urlsplit(url)
    host = parts.hostname or ""
    path_style = host.startswith("s3.") or host.startswith("s3-")
    bucket = (
        (parts.path.lstrip("/").split("/", 1)[0] if path_style else host.split(".", 1)[0])
        if host.endswith(".amazonaws.com")
        else ""
    )
    if parts.scheme != "https" or bucket not in (stack.res.buckets.values() if stack.res else ()):
        return _json(400, {"error": {"field": "url", "reason": "not a link to one of the local stack's buckets"}})
    with stack.aws_lock:
        got = requests.get(url, timeout=30)
    headers = {"content-type": got.headers.get("content-type", "application/octet-stream")}
    return got.status_code, headers, got.content.decode("utf-8", errors="replace")


def control(
    stack: LocalStack, method: str, path: str, body: str, query_string: str = "", data: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    """Local-only routes (never deployed). ``data`` is the body as sent (files are bytes)."""
    if method == "GET" and path == "/_local/clock":
        return _json(200, {"now": clock.iso(stack.clock.now()), "mode": stack.clock_mode})
    if method == "POST" and path == "/_local/clock/advance":
        try:
            payload = json.loads(body or "{}")
        except json.JSONDecodeError:
            return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
        units = {k: payload.get(k) for k in ("days", "hours", "minutes") if k in payload}
        if not units or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in units.values()):
            return _json(400, {"error": {"field": "days", "reason": "give days, hours or minutes as non-negative numbers"}})
        if stack.clock_mode != "simulated":
            return _json(409, {"error": {"field": "clock", "reason": "the system clock cannot be advanced"}})
        fired = stack.advance(timedelta(**units))
        return _json(200, {"now": clock.iso(stack.clock.now()), "fired": fired, "staircase": stack.staircase()["counts"]})
    if method == "POST" and path == "/_local/settle":
        stack.settle()
        return _json(200, {"now": clock.iso(stack.clock.now())})
    found = re.fullmatch(r"/_local/outbox/since/(\d+)", path)
    if method == "GET" and found:  # only the mails after the first N (pollers need not re-read all)
        return _json(200, stack.outbox(after=int(found.group(1))))
    if method == "GET" and path == "/_local/outbox":
        return _json(200, stack.outbox())
    found = re.fullmatch(r"/_local/outbox/([^/]+)/events", path)
    if method == "POST" and found:
        try:
            payload = json.loads(body or "{}")
            stack.emit_ses_event(found.group(1), str(payload.get("type", "")), payload.get("detail"))
        except json.JSONDecodeError:
            return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
        except LocalError as exc:
            return _json(400, {"error": {"field": "type", "reason": str(exc)}})
        return _json(202, {"queued": True})
    if method == "POST" and path == "/_local/clv/fit":
        try:
            payload = json.loads(body or "{}")
            result = stack.call("clv", {"until": payload.get("until"), "unit": payload.get("unit", "days"), "store": True})
        except json.JSONDecodeError:
            return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
        except ValueError as exc:
            return _json(400, {"error": {"field": "unit" if "unit" in str(exc) else "until", "reason": str(exc)}})
        return _json(200, result)
    if method == "GET" and path == "/_local/staircase":
        return _json(200, stack.staircase())
    if method == "GET" and path == "/_local/dlq":
        return _json(200, stack.dlq_depths())
    found = re.fullmatch(r"/_local/dlq/([A-Za-z0-9_-]+)/redrive", path)
    if method == "POST" and found:
        try:
            return _json(200, stack.redrive(found.group(1)))
        except LocalError as exc:
            return _json(404, {"error": {"field": "name", "reason": str(exc)}})
    if method == "POST" and path == "/_local/marketing/resume":
        return _json(200, stack.resume_marketing())
    if method == "GET" and path == "/_local/campaigns":
        return _json(200, stack.campaigns())
    if method == "POST" and path == "/_local/campaigns/simulate":
        return _simulate(stack, body)
    if method == "POST" and path == "/_local/audiences/preview":
        return _audience_preview(stack, body)
    if method == "POST" and path == "/_local/download":
        return _download(stack, body)
    found = re.fullmatch(r"/_local/campaigns/([a-z0-9][a-z0-9-]*\.ya?ml)", path)
    if method == "PUT" and found:
        by = dict(parse_qsl(query_string)).get("by")
        stack.admin.put_campaign(found.group(1), body.encode(), by=by)
        return _json(201, {"stored": found.group(1)})
    found = re.fullmatch(r"/_local/webhooks/([a-z0-9][a-z0-9-]*)/(secret|deliveries)", path)
    if method == "GET" and found:
        if found.group(2) == "secret":
            return _json(200, stack.admin.webhook_secret(found.group(1)))
        limit = dict(parse_qsl(query_string)).get("limit", "100")
        if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 1000):
            return _json(400, {"error": {"field": "limit", "reason": "limit must be a whole number from 1 to 1000"}})
        return _json(200, stack.admin.webhook_deliveries(found.group(1), int(limit)))
    found = re.fullmatch(r"/_local/campaigns/([a-z0-9][a-z0-9-]*)/history", path)
    if method == "GET" and found:
        return _json(200, stack.admin.campaign_history(found.group(1)))
    found = re.fullmatch(r"/_local/templates/([a-z0-9][a-z0-9-]*)/test-send", path)
    if method == "POST" and found:
        return _test_send(stack, found.group(1), body)
    found = re.fullmatch(r"/_local/templates/([a-z0-9][a-z0-9-]*)/preview/([^/]+)", path)
    if method == "GET" and found:
        try:
            return _json(200, stack.preview(found.group(1), found.group(2)))
        except LocalError as exc:
            return _json(422, {"error": {"field": "template", "reason": str(exc)}})
    found = re.fullmatch(r"/_local/imports/(.+)", path)
    if method == "PUT" and found:
        if not _IMPORT_NAME.fullmatch(found.group(1)):
            return _json(
                400, {"error": {"field": "name", "reason": "a .csv or .jsonl file name, optionally under type=<event type>/"}}
            )
        return _json(201, stack.put_import(found.group(1), body.encode() if data is None else data))
    if method == "GET" and path == "/_local/imports":
        query = dict(parse_qsl(query_string))
        if not query.get("key") or not query.get("version"):
            return _json(400, {"error": {"field": "key" if not query.get("key") else "version", "reason": "required"}})
        return _json(200, stack.import_status(query["key"], query["version"]))
    found = re.fullmatch(r"/_local/templates/([a-z0-9][a-z0-9-]*)/status", path)
    if method == "GET" and found:
        status = stack.template_status(found.group(1))
        return _json(200, status) if status else _json(404, {"error": {"field": "template", "reason": "not checked yet"}})
    found = re.fullmatch(r"/_local/templates/((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+)", path)
    if method == "PUT" and found and ".." not in found.group(1):
        stack.put_template(found.group(1), body.encode())
        return _json(201, {"stored": found.group(1)})
    return _json(404, {"error": {"field": "path", "reason": f"no local route {method} {path}"}})


def _simulate(stack: LocalStack, body: str) -> tuple[int, dict[str, str], str]:
    from nudgeloop.domain.forecast import MAX_DAYS
    from nudgeloop.services.campaign_store import InvalidCampaign

    try:
        payload = json.loads(body or "{}")
    except json.JSONDecodeError:
        return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
    days = payload.get("days") if isinstance(payload, dict) else None
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        return _json(400, {"error": {"field": "days", "reason": f"a whole number from 1 to {MAX_DAYS}"}})
    if not isinstance(payload.get("campaign"), str):
        return _json(400, {"error": {"field": "campaign", "reason": "the campaign definition (YAML text)"}})
    try:
        return _json(200, stack.simulate(payload["campaign"], days))
    except InvalidCampaign as exc:
        return _json(422, {"error": {"field": exc.field or "campaign", "line": exc.line, "reason": exc.reason}})


def _test_send(stack: LocalStack, name: str, body: str) -> tuple[int, dict[str, str], str]:
    try:
        payload = json.loads(body or "{}")
    except json.JSONDecodeError:
        return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
    if not isinstance(payload, dict) or not isinstance(payload.get("to"), str):
        return _json(400, {"error": {"field": "to", "reason": "the address to send the test to"}})
    customer = payload.get("customer_id")
    if customer is not None and not isinstance(customer, str):
        return _json(400, {"error": {"field": "customer_id", "reason": "a customer id, or none for the sample"}})
    try:
        return _json(200, stack.admin.test_send(name, payload["to"], customer))
    except ValueError as exc:  # not one mailbox
        return _json(400, {"error": {"field": "to", "reason": str(exc)}})
    except LocalError as exc:
        return _json(422, {"error": {"field": "template", "reason": str(exc)}})


def _audience_preview(stack: LocalStack, body: str) -> tuple[int, dict[str, str], str]:
    from nudgeloop.services.audiences import InvalidAudience

    try:
        payload = json.loads(body or "{}")
    except json.JSONDecodeError:
        return _json(400, {"error": {"field": "body", "reason": "malformed JSON"}})
    if not isinstance(payload, dict) or not isinstance(payload.get("audience"), str):
        return _json(400, {"error": {"field": "audience", "reason": "the audience definition (YAML or JSON text)"}})
    limit = payload.get("limit", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 1000:
        return _json(400, {"error": {"field": "limit", "reason": "a whole number from 0 to 1000"}})
    try:
        return _json(200, stack.admin.preview_audience(payload["audience"], limit))
    except InvalidAudience as exc:
        return _json(422, {"error": {"field": exc.field or "audience", "line": exc.line, "reason": exc.reason}})


class InFlight:
    """Requests being answered now: stopping waits until each has written its answer."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        with self._idle:
            self._count += 1
        try:
            yield
        finally:
            with self._idle:
                self._count -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout=timeout_s)


class LocalServer(ThreadingHTTPServer):
    requests: InFlight


def make_server(stack: LocalStack, port: int, host: str = "127.0.0.1") -> LocalServer:
    requests = InFlight()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self, method: str) -> None:
            with requests.counting():
                self._answer(method)

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            limit = MAX_IMPORT_BODY if method == "PUT" and parts.path.startswith("/_local/imports/") else MAX_BODY
            if stack.stopping.is_set():  # refused cleanly; the client may retry against the next start
                status, headers, body = _json(503, {"message": "the local stack is stopping"})
                self.close_connection = True
                if length <= limit:
                    self.rfile.read(length)
            elif length > limit:
                status, headers, body = _json(413, {"error": {"field": "body", "reason": "request body too large"}})
                self.rfile.read(length)
            else:
                data = self.rfile.read(length) if length else b""
                raw = data.decode("utf-8", errors="replace")
                try:
                    if parts.path.startswith("/_local/"):
                        status, headers, body = control(stack, method, parts.path, raw, parts.query, data)
                    else:
                        status, headers, body = stack.api(
                            method,
                            parts.path,
                            headers=dict(self.headers.items()),
                            body=raw or None,
                            query=dict(parse_qsl(parts.query)),
                            data=data,
                        )
                except Exception as exc:  # the emulator itself failed: say so, loudly
                    status, headers, body = _json(500, {"error": {"field": "local", "reason": f"{type(exc).__name__}: {exc}"}})
            data = body.encode()
            self.send_response(status)
            for name, value in headers.items():
                if name != "content-length":
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def __getattr__(self, name: str) -> Any:
            # Every other method (PATCH, OPTIONS, TRACE, HEAD, ...) gets API Gateway's answer, not a 501.
            if name.startswith("do_"):
                return lambda: self._serve(name[3:])
            raise AttributeError(name)

    server = LocalServer((host, port), Handler)
    server.daemon_threads = True
    server.requests = requests
    return server


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the stack must know its URL before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Background:
    """Runs the server and a pump that keeps queues and journeys moving, both in threads."""

    def __init__(self, stack: LocalStack, port: int = 0, *, pump: bool = True) -> None:
        self.stack = stack
        self.server = make_server(stack, port)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)]
        if pump:  # off only for measurements of the request path alone
            self._threads.append(threading.Thread(target=self._pump, daemon=True))

    def _pump(self) -> None:
        while not self._stop.wait(0.05):
            try:
                if self.stack.clock_mode == "system":
                    self.stack.fire_due_schedules()
                else:
                    self.stack.settle()
            except Exception:  # keep pumping; failures stay visible in queues and DLQs
                log.exception("local pump failed; retrying")
                self._stop.wait(0.5)

    def _refuse_waiting_connections(self) -> None:
        """Connections the kernel accepted but the server loop no longer will: each gets its 503
        (the stack is stopping) instead of a reset when the socket closes."""
        listening = self.server.socket
        listening.setblocking(False)
        while True:
            try:
                connection, address = listening.accept()
            except (BlockingIOError, OSError):
                return
            connection.settimeout(0.5)  # a client that sends nothing is not waited for
            try:
                self.server.finish_request(connection, address)
            except OSError:
                pass
            finally:
                self.server.shutdown_request(connection)

    def start(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the pump to finish what it is doing, so nothing touches
        the stack (or, once moto is stopped, the real network) afterwards."""
        self._stop.set()
        self.stack.interrupt()  # the pump returns after the batch it is delivering
        self.server.shutdown()
        self._refuse_waiting_connections()
        self.server.server_close()
        self.server.requests.wait_idle(STOP_GRACE_S)  # the answers in flight are written
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=SETTLE_TIMEOUT_S + 10)
        self.stack.resume()  # the stack's owner may still drive it; its stop() ends it
