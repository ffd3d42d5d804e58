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
