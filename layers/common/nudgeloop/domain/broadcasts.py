"""Broadcasts: one mail to every member of a saved audience, now or at a set time, each member at
most once (docs/audiences.md, broadcasts).

A broadcast is orchestrated in batches, not per recipient: its members (one Athena query over the
current snapshot) are written as batches of ``BATCH`` customer ids, and each batch is one
invocation of the batch function, which sends through the journeys' send path (consent,
suppression, pause, frequency cap, the ledger's once-only reservation) and puts back for later
the members outside the send window or held by a pause. The sweep releases batches at the pace
the SES sending rate allows.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from nudgeloop.domain.audiences import AUDIENCE_ID

BROADCAST_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
BATCH = 500  # recipients per batch invocation: 500 sends stay well inside its 15 minutes
STEP_ID = "broadcast"  # the ledger's and the statistics' step of every broadcast mail
REDISPATCH_AFTER = timedelta(minutes=20)  # a batch invocation not done by then died: sent again
LATER = timedelta(minutes=15)  # a member held by a pause or a throttle is tried again this much later
SWEEP_S = 300  # the sweep's period (resources.DEFAULT_SWEEP_SCHEDULE)


class BroadcastRequest(BaseModel):
    """``POST /v1/broadcasts``. ``broadcast_id`` is the idempotency key: the same request again
    answers the same broadcast; another request under the same id is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broadcast_id: Annotated[str, StringConstraints(pattern=BROADCAST_ID)]
    audience_id: Annotated[str, StringConstraints(pattern=AUDIENCE_ID)]
    template: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]  # as a campaign step's
    consent_purpose: Literal["newsletter", "marketing", "service"] = "newsletter"
    send_at: AwareDatetime | None = None  # absent: now
    test_to: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        default=None, description="send one test mail to this address (marked [TEST]) instead; nothing is recorded"
    )


def campaign_id(broadcast_id: str) -> str:
    """The campaign a broadcast's mails are counted under (its statistics, its ledger keys)."""
    return f"broadcast-{broadcast_id}"


def batches_per_sweep(max_send_rate: int) -> int | None:
    """How many batches a sweep releases: what the SES rate sends in one sweep period (None: no
    rate of our own, all at once)."""
    return max(1, math.ceil(max_send_rate * SWEEP_S / BATCH)) if max_send_rate else None


def due(send_at: str | None, now: datetime) -> bool:
    return send_at is None or datetime.fromisoformat(send_at) <= now
