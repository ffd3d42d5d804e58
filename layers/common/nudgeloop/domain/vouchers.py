"""Vouchers: a unique code per recipient and occurrence, issued when the mail that carries it is
sent, with a state the shop can check and redeem (pure: codes and the redemption rule)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

DEFAULT_VALID_DAYS = 30
# A code the shop can present: the stack's own (``WELCOME-7F3K9QXM4T``) or one of a pool the shop
# uploaded (upper-case letters, digits and dashes); anything else is not looked up.
CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,31}$")
POOL_NAME = r"^[a-z0-9][a-z0-9-]{0,39}$"  # a pool of codes the shop uploaded (``voucher_pool``)
MAX_POOL_UPLOAD = 500  # codes per upload request


def code(key: bytes, prefix: str, customer_id: str, campaign_id: str, step_id: str, execution: str) -> str:
    """Unguessable, and the same for the same send (a retried send carries the same code); one
    per recipient and occurrence: the journey (``execution``) is part of it, so a second
    referral or a second year's birthday gets a new code. ``WELCOME-7F3K9QXM4T``."""
    message = f"voucher|{customer_id}|{campaign_id}|{step_id}|{execution}".encode()
    return f"{prefix}-{hmac.new(key, message, hashlib.sha256).hexdigest()[:10].upper()}"


@dataclass(frozen=True)
class Voucher:
    code: str
    customer_id: str
    campaign_id: str
    step_id: str
    issued_at: datetime
    expires_at: datetime
    status: Literal["issued", "redeemed"] = "issued"
    order_id: str | None = None  # the order that redeemed it
    redeemed_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """``issued``, ``redeemed`` or ``expired`` (an unredeemed voucher past its date)."""
        if self.status == "redeemed":
            return "redeemed"
        return "expired" if now >= self.expires_at else "issued"


Outcome = Literal["redeemed", "again", "taken", "expired"]


def redemption(voucher: Voucher, order_id: str, now: datetime) -> Outcome:
    """What redeeming ``voucher`` for ``order_id`` at ``now`` does: ``redeemed`` (it is now),
    ``again`` (this order redeemed it already: the same answer, nothing more), ``taken``
    (another order redeemed it) or ``expired``."""
    if voucher.status == "redeemed":
        return "again" if voucher.order_id == order_id else "taken"
    return "expired" if voucher.state(now) == "expired" else "redeemed"
