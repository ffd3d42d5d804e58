"""Outbound webhooks: the shop's systems told of what happened here (loyalty points granted), by a
signed HTTPS POST, retried until it is taken.

The signature is the Standard Webhooks one (https://www.standardwebhooks.com/): the headers
``webhook-id`` (the event's id: the same on every retry, for the receiver to de-duplicate),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,`` and the base64
HMAC-SHA256 of ``id.timestamp.body`` under the endpoint's secret), so that a receiver checks it
with any Standard Webhooks library. Each endpoint's secret is derived from the stack's signing
key and its id (``nudgeloop webhooks secret ID`` prints it): no secret of its own to store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, field_validator

from nudgeloop.domain.events import AUDIENCE_PUBLISHED, POINTS_GRANTED

BUS_SOURCE = "nudgeloop.outbound"  # the bus events the webhook function takes
BUS_DETAIL_TYPE = "OutboundEvent"  # detail: event_id, type, customer_id, at, data
OUTBOUND_TYPES = (POINTS_GRANTED, AUDIENCE_PUBLISHED)  # what an endpoint may subscribe to
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a Standard Webhooks secret, not a secret
TIMEOUT_S = 10  # a receiver that takes longer has failed this attempt
# after the first attempt fails: again after each of these, then given up (about 2 days in all)
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Endpoint(BaseModel):
    """Where events of the subscribed types go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    url: str
    events: tuple[str, ...] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError("url needs a host")
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
            raise ValueError("url must be https (http only to this machine, for local testing)")
        return url

    @field_validator("events")
    @classmethod
    def _known(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(events) - set(OUTBOUND_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(OUTBOUND_TYPES)}")
        return events


_ENDPOINTS = TypeAdapter(list[Endpoint])


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """The ``webhooks`` setting (a JSON list); raises ValueError naming what is wrong."""
    try:
        endpoints = tuple(_ENDPOINTS.validate_json(text or "[]"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"webhooks: {where}: {first['msg']}") from None
    ids = [e.id for e in endpoints]
    if len(set(ids)) != len(ids):
        raise ValueError("webhooks: endpoint ids must be unique")
    return endpoints


def subscribed(endpoints: tuple[Endpoint, ...], event_type: str) -> list[Endpoint]:
    return [e for e in endpoints if event_type in e.events]


def secret_for(signing_key: bytes, endpoint_id: str) -> str:
    """The endpoint's secret, as Standard Webhooks writes one (``whsec_`` and base64)."""
    derived = hmac.new(signing_key, f"webhook|{endpoint_id}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(derived).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(signed).decode()


def body(event_type: str, at: str, data: dict[str, Any]) -> bytes:
    """The payload, as Standard Webhooks shapes it: ``type``, ``timestamp``, ``data``."""
    return json.dumps({"type": event_type, "timestamp": at, "data": data}, separators=(",", ":"), sort_keys=True).encode()


def headers(secret: str, message_id: str, sent_at: datetime, payload: bytes) -> dict[str, str]:
    timestamp = int(sent_at.timestamp())
    return {
        "content-type": "application/json",
        "user-agent": "Nudgeloop-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, payload),
    }


def taken(status: int) -> bool:
    """Whether the receiver took it: any 2xx. Anything else (and no answer) is tried again."""
    return 200 <= status < 300


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed ones; None: given up."""
    if attempts > len(BACKOFF):
        return None
    return now + BACKOFF[attempts - 1]
