"""``GET /v1/campaigns/{campaign_id}/mails``: a campaign's sent mails, newest first, each with a
time-limited link to the archived copy of the message as it was sent."""

from __future__ import annotations

from typing import Any

from nudgeloop.adapters.aws import client
from nudgeloop.dal import ledger
from nudgeloop.services import cursors

LINK_SECONDS = 900  # how long an archived copy's link works


def archived_link(data_bucket: str, key: str | None) -> str | None:
    """A time-limited link to an archived message as it was sent (None without one)."""
    if not key or not data_bucket:
        return None
    return str(
        client("s3").generate_presigned_url("get_object", Params={"Bucket": data_bucket, "Key": key}, ExpiresIn=LINK_SECONDS)
    )


def page(campaign_id: str, limit: int, cursor: str | None, data_bucket: str) -> dict[str, Any]:
    listing = f"campaign:{campaign_id}"
    rows, last = ledger.campaign_mails(campaign_id, limit, cursors.decode(cursor, listing))
    mails = [{**row, "archived": archived_link(data_bucket, row.pop("archive_key", None))} for row in rows]
    return {"mails": mails, "next": cursors.encode(listing, last)}
