"""The customer staircase: pure classification of a customer onto a lifecycle step.

Rules are evaluated on UTC calendar dates, in order of precedence (see docs/staircase.md):
prospect (no order), vip (>= vip_orders orders within the trailing vip_window_days), new (first
order at most new_days ago), active (last order at most active_days ago), at_risk (last order at
most at_risk_days ago), inactive (older). "N days ago" is the number of calendar days between
the order's UTC date and today.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta

SEGMENTS = ("prospect", "new", "active", "vip", "at_risk", "inactive")


@dataclass(frozen=True)
class Staircase:
    version: str = "default-1"
    vip_orders: int = 4
    vip_window_days: int = 365
    new_days: int = 90
    active_days: int = 180
    at_risk_days: int = 365

    @classmethod
    def from_json(cls, text: str) -> Staircase:
        if not text:
            return cls()
        values = json.loads(text)
        unknown = set(values) - set(asdict(cls()))
        if unknown:
            raise ValueError(f"unknown staircase settings: {sorted(unknown)}")
        stairs = cls(**values)
        if not stairs.new_days < stairs.active_days < stairs.at_risk_days:
            raise ValueError("staircase needs new_days < active_days < at_risk_days")
        if stairs.vip_orders < 1 or stairs.vip_window_days < 1:
            raise ValueError("vip_orders and vip_window_days must be positive")
        return stairs


@dataclass(frozen=True)
class Placement:
    segment: str
    review_on: date | None  # first date on which the segment changes without new orders


def _segment(order_dates: list[date], today: date, s: Staircase) -> str:
    past = [d for d in order_dates if d <= today]
    if not past:
        return "prospect"
    recent = sum(1 for d in past if (today - d).days <= s.vip_window_days)
    if recent >= s.vip_orders:
        return "vip"
    if (today - min(past)).days <= s.new_days:
        return "new"
    last_age = (today - max(past)).days
    if last_age <= s.active_days:
        return "active"
    if last_age <= s.at_risk_days:
        return "at_risk"
    return "inactive"


def place(order_dates: list[date], today: date, stairs: Staircase | None = None) -> Placement:
    """Classify a customer from the UTC dates of their counted (not refunded) orders."""
    s = stairs or Staircase()
    current = _segment(order_dates, today, s)
    offsets = {s.new_days + 1, s.active_days + 1, s.at_risk_days + 1, s.vip_window_days + 1}
    candidates = sorted({d + timedelta(days=o) for d in order_dates for o in offsets if d + timedelta(days=o) > today})
    for day in candidates:
        if _segment(order_dates, day, s) != current:
            return Placement(current, day)
    return Placement(current, None)
