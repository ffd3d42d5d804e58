"""``GET /v1/customers/{customer_id}/export``: what the stack holds about one person, as one JSON
document (GDPR Art. 15, access, and Art. 20, portability; docs/privacy.md).

It gathers from every store that keeps a person by their id: the profile, consents and step
(customers table, with the aggregates computed from the orders), their events, newest first, the
consent statements (with their source and time, the proof of consent) and the staircase moves
among them (events table), the mails the ledger holds for them, each with a time-limited link to
the archived message exactly as it was sent (engine table and the sent-mail archive in S3), the
vouchers those mails carried, the CLV values (recs table) and the memberships of saved
audiences. Events past the first ``EVENTS_INLINE`` are not repeated here: ``events_next`` is the
cursor of ``GET /v1/customers/{id}/events``, which pages through the rest.
"""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.dal import ledger, memberships
from nudgeloop.services import audience_store, customers, vouchers
from nudgeloop.services.campaign_mails import LINK_SECONDS, archived_link

EVENTS_INLINE = 1000
CONSENT_TYPES = ("consent.changed",)
STEP_TYPES = ("segment.migrated",)


def export(customer_id: str, data_bucket: str, campaigns_bucket: str) -> dict[str, Any] | None:
    """The document, or None when nothing is held about ``customer_id``."""
    found = customers.view(customer_id)
    history = customers.history(customer_id, EVENTS_INLINE, None)
    if found is None and not history["events"]:
        return None
    events = history["events"]
    mails, codes = _mails(customer_id, data_bucket)
    return {
        "customer_id": customer_id,
        "exported_at": clock.iso(clock.now()),
        "profile": (found or {}).get("profile", {}),
        "attributes": (found or {}).get("attributes", {}),
        "consents": (found or {}).get("consents", {}),
        "consent_statements": [e for e in events if e["type"] in CONSENT_TYPES],
        "step": {"segment": (found or {}).get("segment"), "since": (found or {}).get("segment_since")},
        "step_history": [e for e in events if e["type"] in STEP_TYPES],
        "aggregates": (found or {}).get("aggregates", {}),
        "clv": (found or {}).get("clv"),
        "mails": mails,
        "vouchers": [vouchers.view(v) for v in (vouchers.get(code) for code in codes) if v is not None],
        "audiences": [a["id"] for a in audience_store.listing(campaigns_bucket) if memberships.is_member(a["id"], customer_id)],
        "events": events,
        "events_next": history["next"],
        "links_valid_s": LINK_SECONDS,
    }


def _mails(customer_id: str, data_bucket: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The ledger's entries of the customer (sent, skipped, capped...), each sent one with a
    link to its archived message; and the voucher codes they carried."""
    found: list[dict[str, Any]] = []
    codes: list[str] = []
    for entry in ledger.ledger(customer_id):
        data = entry.data
        link = archived_link(data_bucket, data.get("archive_key"))
        shown: dict[str, Any] = {
            k: data[k] for k in ("campaign_id", "step_id", "purpose", "message_id", "sent_at", "voucher") if k in data
        }
        found.append({"ledger_key": entry.key, "status": entry.status, **shown, "archived": link})
        if data.get("voucher"):
            codes.append(str(data["voucher"]))
    return found, codes
