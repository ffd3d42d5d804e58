"""Scoped API keys (docs/api.md, "Keys and scopes"): what each key may call.

A key has one scope, fixed when it is created (to change it, create another and revoke the old):

- ``ingest``: what a webshop, a till or an app sends (events, customer upserts, voucher checks
  and redemptions);
- ``read``: what a report or a BI tool reads (customers, audiences and their members, exports,
  broadcasts, analytics);
- ``admin``: everything, including what changes the product's behaviour or takes personal data
  out in bulk (audiences, exports, broadcasts, voucher pools, keys): marketers and operators.

Each route names the scopes it admits besides ``admin`` (``RouteSpec.scopes`` in
``resources.py``). API Gateway checks that a key exists and is enabled (its usage plan); the API
function checks its scope, which is a tag of the key itself (``SCOPE_TAG``), so that a key and
its scope are created and revoked together and nothing else stores them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from nudgeloop.specs import RouteSpec

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
ADMIN: Scope = "admin"
SCOPE_TAG = "nudgeloop:scope"
STACK_TAG = "nudgeloop:stack"  # the stack whose usage plan holds the key: only its own are listed or revoked
KEY_NAME = r"^[a-z0-9][a-z0-9-]{0,39}$"


class KeyRequest(BaseModel):
    """``POST /v1/keys``: a name (who holds it, e.g. ``webshop``) and the scope."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=KEY_NAME)
    scope: Scope


def admitted(route_scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes whose keys may call a route that names ``route_scopes``: those and admin."""
    return tuple(s for s in SCOPES if s == ADMIN or s in route_scopes)


def allows(key_scope: str | None, route_scopes: Iterable[str]) -> bool:
    """Whether a key of ``key_scope`` (None: a key without a scope, which may call nothing) may
    call a route that names ``route_scopes``."""
    return key_scope is not None and key_scope in admitted(route_scopes)


def refusal(key_scope: str | None, route_scopes: Iterable[str]) -> str:
    """Why a key may not call the route, naming the scope it lacks."""
    needed = " or ".join(f"'{s}'" for s in admitted(route_scopes))
    held = f"this key's scope is '{key_scope}'" if key_scope else "this key has no scope"
    return f"{held}; this route needs a key of scope {needed}"


def key_name(prefix: str, name: str) -> str:
    """The key's name in API Gateway (names are per account and region: the stack's prefix first)."""
    return f"{prefix}-{name}"


def scope_table(routes: Iterable[RouteSpec]) -> str:
    """The routes and the scopes that may call each, as the Markdown table of docs/api.md."""
    lines = ["| route | ingest | read | admin |", "|---|---|---|---|"]
    for route in routes:
        if not route.api_key_required:
            continue
        marks = " | ".join("yes" if s in admitted(route.scopes) else "—" for s in SCOPES)
        lines.append(f"| `{route.method} {route.path}` | {marks} |")
    return "\n".join(lines)
