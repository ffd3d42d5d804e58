"""The audit trail: who changed what, and when (docs/privacy.md, "Audit trail").

An entry names an *object* (``audience:tea-buyers``, ``campaign:welcome``,
``template:welcome/en.html``, ``key:abc123``, ``customer:c1``, ``marketing:pause``,
``erasure:er-…``, which names no one), the action,
the actor (an API key's id, the IAM principal that uploaded a file, or the stack itself, e.g.
``system:reputation``) and, where the change concerns a person, their customer id, so that the
trail is queryable per object and per customer. It is kept in a table of its own, apart from the
customer data, for ``KEEP_DAYS``.
"""

from __future__ import annotations

import re

KINDS = ("audience", "campaign", "template", "key", "customer", "marketing", "erasure")
KEEP_DAYS = 730
OBJECT = re.compile(r"^(?P<kind>" + "|".join(KINDS) + r"):(?P<id>[^\s]{1,512})$")


def object_name(kind: str, object_id: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown audited kind {kind!r}")
    return f"{kind}:{object_id}"


def key_actor(key_id: str | None) -> str:
    """The actor of an API request: its key's id (never the key)."""
    return f"key:{key_id}" if key_id else "key:unknown"
