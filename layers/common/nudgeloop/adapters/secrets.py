"""Secrets (Secrets Manager) and SecureString parameters (SSM), fetched through Powertools and
cached for an hour per container."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from nudgeloop import warm

warm.keeps(parameters.clear_caches)  # a new local stack has other secrets (warm.py)


def secret_bytes(secret_name: str) -> bytes:
    value = parameters.get_secret(secret_name, max_age=3600)
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def parameter_bytes(name: str) -> bytes | None:
    """A SecureString parameter, decrypted; None when it does not exist (yet). Any other error
    (access, throttling) is raised."""
    try:
        value = parameters.get_parameter(name, decrypt=True, max_age=3600)
    except parameters.exceptions.GetParameterError as exc:
        if "ParameterNotFound" in str(exc):
            return None
        raise
    return value.encode() if isinstance(value, str) else bytes(value)


def signing_key(secret_name: str) -> bytes:
    """The HMAC key of unsubscribe and confirmation links."""
    return secret_bytes(secret_name)
