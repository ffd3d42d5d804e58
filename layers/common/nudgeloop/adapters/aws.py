"""Lazily created boto3 clients (never at import time, so tests and the local runtime can
install their AWS stand-in first). One client per service per process."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset() -> None:
    """Forget cached clients (tests that start a fresh AWS stand-in call this)."""
    client.cache_clear()
