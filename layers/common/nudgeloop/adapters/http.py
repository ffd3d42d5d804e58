"""Outbound HTTP (webhooks): one POST, its status or why there was none."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Protocol


class Poster(Protocol):
    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int | None, str | None]: ...


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int | None, str | None]:
    """(HTTP status, None) when the receiver answered, whatever it answered; (None, the reason)
    when it did not (refused, timed out, TLS). Redirects are not followed: a webhook's URL is the
    receiver's, and a redirect is an answer that did not take it."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - the operator's https URL (validated)
    try:
        with _opener.open(request, timeout=timeout_s) as answer:
            return int(answer.status), None
    except urllib.error.HTTPError as exc:
        return int(exc.code), None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return None, type(exc).__name__ + ": " + str(getattr(exc, "reason", exc))[:200]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())
