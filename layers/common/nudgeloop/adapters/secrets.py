"""The HMAC signing key (Secrets Manager), fetched once per cold start through Powertools."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters


def signing_key(secret_name: str) -> bytes:
    value = parameters.get_secret(secret_name, max_age=3600)
    if isinstance(value, bytes):
        return value
    return str(value).encode()
