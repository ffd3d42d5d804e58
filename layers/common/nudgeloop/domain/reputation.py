"""The reputation circuit breaker (pure): when the rolling bounce or complaint rate reaches half
of the level at which SES puts an account under review, marketing sending pauses.

SES reviews an account at a 5 % bounce rate and a 0.1 % complaint rate; we stop marketing mail at
2.5 % and 0.05 %, measured over the mails sent in the last ``window_hours`` (hourly buckets),
once there are at least ``min_sends`` of them (a rate over a handful of mails means nothing).
Service mails (confirmations, booking reminders) keep going: they have their own configuration
set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Thresholds:
    bounce_rate: float = 0.025
    complaint_rate: float = 0.0005
    window_hours: int = 24
    min_sends: int = 200


@dataclass(frozen=True)
class Window:
    sent: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0


# What the sending reputation counts: every mail sent and, of their feedback, these kinds.
COUNTED_FEEDBACK = frozenset({"bounced", "complained"})


def counts_sent() -> bool:
    """Whether a sent mail counts in the reputation's denominator: every one does, service mail
    too (SES judges the account's whole sending, not one kind of mail)."""
    return True


def counts_feedback(kind: str) -> bool:
    """Whether an SES feedback event of ``kind`` counts against the sending reputation."""
    return kind in COUNTED_FEEDBACK


def hour_key(at: datetime) -> str:
    """The hourly bucket a mail or its feedback is counted in: ``2026-01-01T09``."""
    return at.strftime("%Y-%m-%dT%H")


def window_keys(now: datetime, hours: int) -> list[str]:
    """The buckets of the last ``hours`` hours, this one included."""
    return [hour_key(now - timedelta(hours=h)) for h in range(hours)]


def verdict(window: Window, thresholds: Thresholds) -> str | None:
    """Why marketing must pause (``bounce_rate`` or ``complaint_rate``), or None."""
    if window.sent < thresholds.min_sends:
        return None
    if window.bounce_rate >= thresholds.bounce_rate:
        return "bounce_rate"
    if window.complaint_rate >= thresholds.complaint_rate:
        return "complaint_rate"
    return None
