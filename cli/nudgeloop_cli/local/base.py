"""What the local runtime's parts share: where the repository is, the region, its errors."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
DEFAULT_API_KEY = "local-admin-key-for-development"  # API Gateway wants at least 20 characters
# the shipped local stack's keys, one of each scope (domain/access.py); the admin key's value may
# be set with NUDGELOOP_API_KEY
LOCAL_KEYS = {"ingest": "local-ingest-key-for-development", "read": "local-read-key-for-development"}
SETTLE_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0  # how long stop() waits for a handler still running


class LocalError(RuntimeError):
    pass


def error_type(exc: BaseException) -> str:
    """The errorType Lambda reports for an invocation that ended with ``exc``: the exception's
    class name for an unhandled error, or the runtime's own (``Sandbox.Timedout``,
    ``Runtime.ExitError``) for the errors the host raises in its place."""
    return str(getattr(exc, "error_type", type(exc).__name__))
