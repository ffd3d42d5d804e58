"""Campaign analytics (pure): last-touch attribution, the funnel per step, and holdout uplift
with a confidence interval.

Attribution: an order converts for the last campaign mail that touched the customer within the
attribution window before it: a send, or a click in a mail (a click is a later touch of the
mail's own campaign and step). Uplift compares the share of customers who ordered within the
window after entering the campaign, treated versus holdout, with Newcombe's hybrid score
interval for a difference of proportions (method 10 in Newcombe, Statistics in Medicine 1998),
which behaves at small counts and at rates near 0, where the Wald interval does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

Z95 = 1.959963984540054
# What a send step's mails did, in funnel order (the counters the engine keeps per step).
KPIS = (
    "sent",
    "capped",
    "suppressed",
    "no_consent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "converted",
)


@dataclass(frozen=True, order=True)
class Touch:
    at: datetime
    campaign_id: str
    step_id: str
    kind: str  # "sent" or "clicked"


def last_touch(order_at: datetime, touches: list[Touch], window_days: int) -> Touch | None:
    """The campaign mail an order is attributed to: the latest touch strictly before the order
    and no older than the window (None: the order converts for no campaign). A mail at the
    order's own moment is one the order caused (the welcome it triggered), not its cause."""
    since = order_at - timedelta(days=window_days)
    eligible = [t for t in touches if since <= t.at < order_at]
    return max(eligible) if eligible else None


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """p1 - p2 and its Newcombe hybrid score interval (lower, upper)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lower, upper


def uplift(treated: int, treated_converted: int, control: int, control_converted: int) -> dict[str, Any]:
    """Conversion of treated entrants versus the holdout group, in percentage points."""
    out: dict[str, Any] = {
        "treated": treated,
        "treated_converted": treated_converted,
        "control": control,
        "control_converted": control_converted,
        "treated_rate": _rate(treated_converted, treated),
        "control_rate": _rate(control_converted, control),
        "uplift_pp": None,
        "ci95_pp": None,
        "significant": None,
    }
    if treated and control:
        d, lo, hi = difference_interval(treated_converted, treated, control_converted, control)
        out["uplift_pp"] = round(100 * d, 2)
        out["ci95_pp"] = [round(100 * lo, 2), round(100 * hi, 2)]
        out["significant"] = lo > 0 or hi < 0
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def funnel(steps: dict[str, dict[str, int]], revenue: dict[str, dict[str, Decimal]], entries: dict[str, int]) -> dict[str, Any]:
    """The campaign's figures per send step and in total, with the usual rates.

    ``steps`` holds the engine's counters per step (``sent``, ``delivered``, ...), ``revenue``
    the attributed revenue per step and currency, ``entries`` the entries by outcome.
    """
    per_step = {}
    totals = dict.fromkeys(KPIS, 0)
    totals_revenue: dict[str, Decimal] = {}
    for step_id in sorted(set(steps) | set(revenue)):
        counts = {k: int(steps.get(step_id, {}).get(k, 0)) for k in KPIS}
        money = revenue.get(step_id, {})
        per_step[step_id] = {**counts, "revenue": {c: str(v) for c, v in sorted(money.items())}, **rates(counts)}
        for k in KPIS:
            totals[k] += counts[k]
        for currency, value in money.items():
            totals_revenue[currency] = totals_revenue.get(currency, Decimal(0)) + value
    return {
        "entries": {
            "entered": entries.get("entered", 0),
            "holdout": entries.get("holdout", 0),
            "not_in_audience": entries.get("not_in_audience", 0),
        },
        "totals": {**totals, "revenue": {c: str(v) for c, v in sorted(totals_revenue.items())}, **rates(totals)},
        "steps": per_step,
    }


def rates(c: dict[str, int]) -> dict[str, float | None]:
    """Delivery, open, click, bounce, complaint, unsubscribe and conversion rates (opens and
    clicks per delivered mail; bounces per sent mail; conversions per sent mail)."""
    return {
        "delivery_rate": _rate(c["delivered"], c["sent"]),
        "open_rate": _rate(c["opened"], c["delivered"]),
        "click_rate": _rate(c["clicked"], c["delivered"]),
        "bounce_rate": _rate(c["bounced"], c["sent"]),
        "complaint_rate": _rate(c["complained"], c["delivered"]),
        "unsubscribe_rate": _rate(c["unsubscribed"], c["delivered"]),
        "conversion_rate": _rate(c["converted"], c["sent"]),
    }
