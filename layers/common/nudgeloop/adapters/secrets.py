"""Secrets (Secrets Manager), fetched through Powertools and cached for an hour per container."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters


def secret_bytes(secret_name: str) -> bytes:
    value = parameters.get_secret(secret_name, max_age=3600)
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def signing_key(secret_name: str) -> bytes:
    """The HMAC key of unsubscribe and confirmation links."""
    return secret_bytes(secret_name)
