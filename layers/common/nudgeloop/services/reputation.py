"""The reputation circuit breaker: measure the last 24 hours, pause marketing, resume it.

Pausing turns the marketing configuration set's sending off (SES then refuses its mail) and
records the pause; the send step holds marketing mails while it lasts (the journey parks until
the resume releases it; nothing is dropped or sent twice). Service mail uses its own configuration
set and keeps going. Resuming is one command (``nudgeloop sends resume-marketing``).
"""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import audit, deliverability, timers
from nudgeloop.domain.reputation import Thresholds, Window, verdict, window_keys
from nudgeloop.observability import logger


def window(thresholds: Thresholds) -> Window:
    """The last ``window_hours`` of mail, counted afresh from the last resume."""
    keys = window_keys(clock.now(), thresholds.window_hours)
    baseline = deliverability.reputation_baseline()
    if baseline is not None:
        keys = [k for k in keys if k >= baseline["hour"]]
    counts = deliverability.reputation_counts(keys) if keys else {"sent": 0, "bounced": 0, "complained": 0}
    if baseline is not None and baseline["hour"] in keys:
        counts = {k: counts[k] - int(baseline.get(k, 0)) for k in counts}
    return Window(sent=counts["sent"], bounced=counts["bounced"], complained=counts["complained"])


def figures(thresholds: Thresholds) -> dict[str, Any]:
    w = window(thresholds)
    return {
        "window_hours": thresholds.window_hours,
        "window": {
            "sent": w.sent,
            "bounced": w.bounced,
            "complained": w.complained,
            "bounce_rate": round(w.bounce_rate, 5),
            "complaint_rate": round(w.complaint_rate, 6),
        },
        "thresholds": {
            "bounce_rate": thresholds.bounce_rate,
            "complaint_rate": thresholds.complaint_rate,
            "min_sends": thresholds.min_sends,
        },
        "paused": deliverability.marketing_pause(),
    }


PAUSE_OBJECT = "pause"  # the audit trail's object: marketing:pause


def check(thresholds: Thresholds, configuration_set: str) -> str | None:
    """Pause marketing if the rates call for it; returns the reason when this call paused it."""
    current = window(thresholds)
    reason = verdict(current, thresholds)
    if reason is None:
        return None
    rates = {
        "sent": current.sent,
        "bounce_rate": round(current.bounce_rate, 5),
        "complaint_rate": round(current.complaint_rate, 6),
    }
    if not deliverability.pause_marketing(reason, rates):
        return None  # paused already
    audit.record("marketing", PAUSE_OBJECT, "paused", "system:reputation", {"reason": reason, **rates})
    set_sending(configuration_set, enabled=False)
    logger.error("marketing sending paused: reputation", extra={"reason": reason, **rates})
    return reason


def resume(configuration_set: str, actor: str) -> dict[str, Any] | None:
    """Turn marketing sending back on and measure afresh; returns the pause that was lifted.
    ``actor`` is who resumes (the audit trail's: an operator's IAM identity)."""
    lifted = deliverability.resume_marketing()
    audit.record("marketing", PAUSE_OBJECT, "resumed", actor, {"was_paused_for": (lifted or {}).get("reason")})
    set_sending(configuration_set, enabled=True)
    released = timers.release_held_timers(clock.now())  # the held journeys go on at the next sweep
    logger.warning("marketing sending resumed", extra={"was": (lifted or {}).get("reason"), "journeys_released": released})
    return lifted


def set_sending(configuration_set: str, *, enabled: bool) -> None:
    client("sesv2").put_configuration_set_sending_options(ConfigurationSetName=configuration_set, SendingEnabled=enabled)
