"""The send ledger's entries as the services see them (``dal/ledger.py`` reads and writes them).

One entry per journey step and customer, keyed by ``domain/idempotency.ledger_key``: reserved
before SES is called, then completed (``sent``, ``failed``, ``capped``, ...), or recorded as a
skip (``skipped:<why>``). A reservation is also the handle the sender gives back to complete or
release it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LedgerEntry:
    customer_id: str
    key: str  # campaign#step#execution
    status: str  # reserved, sent, failed, capped, skipped:<why>, sent_unconfirmed, not_sent
    data: dict[str, Any] = field(default_factory=dict)  # campaign_id, step_id, purpose, sent_at, message_id, ...
    created_at: str | None = None  # for a reservation: when it was reserved

    @property
    def sent_at(self) -> str | None:
        value = self.data.get("sent_at")
        return str(value) if value else None
