"""What the local runtime's parts share: where the repository is, the region, its errors."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
DEFAULT_API_KEY = "local-dev-key"
SETTLE_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0  # how long stop() waits for a handler still running


class LocalError(RuntimeError):
    pass


def error_type(exc: BaseException) -> str:
    """The errorType Lambda reports for an invocation that ended with ``exc``: the exception's
    class name for an unhandled error, or the runtime's own (``Sandbox.Timedout``,
    ``Runtime.ExitError``) for the errors the host raises in its place."""
    return str(getattr(exc, "error_type", type(exc).__name__))
