"""The contact policy, one pure gate: whether a mail may go to a customer now, and if not, how
the refusal is recorded. Sending (``services/sender.py``) and the forecast
(``domain/forecast.py``) both ask it, so a forecast counts what sending would do.

In order: an address that is a mailbox, consent for the mail's purpose, the suppression list,
a stopped journey step (all recorded as skips, counted once per journey), then for marketing
mail the reputation circuit breaker's pause (held: tried again later, not recorded), and, once
the send is reserved, the frequency cap: a capped mail is deferred to the moment the cap allows
it, when that is within the campaign's deferral limit, and only then recorded as capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from nudgeloop.domain import consent


def is_marketing(purpose: str) -> bool:
    """The mail kind: marketing mail needs consent for a marketing purpose, counts for the cap
    and is paused by the circuit breaker; service mail (confirmations, reminders) is neither."""
    return purpose in consent.MARKETING_PURPOSES


DEFAULT_PRIORITY = 5  # a campaign's priority (1-10) unless it says otherwise


def counts_for_cap(sent_priority: int, priority: int) -> bool:
    """Whether a marketing mail sent earlier (of ``sent_priority``) counts against the cap of one
    of ``priority``: only mails at least as important do, so three promotions do not keep a
    birthday greeting (priority 8) from going out, while three greetings would."""
    return sent_priority >= priority


@dataclass(frozen=True)
class Facts:
    """What the gate judges, read by the caller."""

    address: Literal["ok", "missing", "invalid"]
    consent: bool  # the customer's current consent allows the mail's purpose
    marketing: bool
    suppressed: str | None = None  # why the address is suppressed
    stopped: str | None = None  # why the journey step was stopped
    paused: str | None = None  # why marketing sending is paused


@dataclass(frozen=True)
class Refusal:
    status: Literal["skipped", "held", "capped", "deferred"]
    counter: str  # the journey step's counter it is counted under ("" for held and deferred: not counted)
    reason: str
    retry_at: datetime | None = None  # deferred: when the cap allows the mail


def before_reserving(facts: Facts) -> Refusal | None:
    """Why the mail may not go out now, or None (reserve it, then ask :func:`over_cap`)."""
    if facts.address != "ok":
        return Refusal("skipped", "no_address", "no_address" if facts.address == "missing" else "invalid_address")
    if not facts.consent:
        return Refusal("skipped", "no_consent", "no_consent")
    if facts.suppressed is not None:
        return Refusal("skipped", "suppressed", f"suppressed:{facts.suppressed}")
    if facts.stopped is not None:
        return Refusal("skipped", "stopped", f"step_stopped:{facts.stopped}")
    if facts.marketing and facts.paused is not None:
        return Refusal("held", "", f"marketing_paused:{facts.paused}")
    return None


def over_cap(
    marketing: bool, recent: list[datetime], cap: tuple[int, int] | None, now: datetime, defer_days: int = 0
) -> Refusal | None:
    """The frequency cap: ``recent`` are the customer's marketing mails in the cap's window.

    Over the cap, the mail is deferred to when enough of them have aged out of the window (the
    next slot the cap allows), if that is at most ``defer_days`` away; otherwise it is capped."""
    if cap is None or not marketing:
        return None
    mails, days = cap
    if len(recent) < mails:
        return None
    reason = f"frequency_cap:{mails}/{days}d"
    if mails > 0:
        # the window holds fewer than ``mails`` once the oldest len - mails + 1 have left it
        leaves = sorted(recent)[len(recent) - mails] + timedelta(days=days)
        if leaves - now <= timedelta(days=defer_days):
            # a second past the window's edge (a mail exactly ``days`` old still counts)
            return Refusal("deferred", "", reason, max(leaves + timedelta(seconds=1), now))
    return Refusal("capped", "capped", reason)
