"""The customer staircase: pure classification of a customer onto a lifecycle step.

A staircase is an ordered list of steps; a customer stands on the first step whose conditions
all hold. Conditions speak of the customer's counted (not refunded) orders, by UTC calendar date;
"N days ago" is the number of calendar days between an order's date and today. The default
(docs/staircase.md) is prospect, vip, new, active, at_risk, inactive; deployments change
thresholds or add steps with a definition (JSON), validated when it is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

STEPS = ("prospect", "new", "active", "vip", "at_risk", "inactive")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Within(_Strict):
    count: int = Field(ge=1)
    days: int = Field(ge=1)


class Spend(_Strict):
    amount: Decimal = Field(gt=0)
    days: int = Field(ge=1)


class Condition(_Strict):
    """All given parts must hold; an empty condition always holds."""

    no_orders: bool | None = None
    orders_within: Within | None = None
    revenue_within: Spend | None = None
    first_order_within_days: int | None = Field(default=None, ge=0)
    last_order_within_days: int | None = Field(default=None, ge=0)
    last_order_older_than_days: int | None = Field(default=None, ge=0)

    def holds(self, orders: list[tuple[date, Decimal]], today: date) -> bool:
        if self.no_orders is not None and self.no_orders != (not orders):
            return False
        ages = [(today - d).days for d, _ in orders]
        if self.orders_within and sum(1 for a in ages if a <= self.orders_within.days) < self.orders_within.count:
            return False
        if self.revenue_within:
            spent = sum((v for (d, v) in orders if (today - d).days <= self.revenue_within.days), Decimal(0))
            if spent < self.revenue_within.amount:
                return False
        for threshold, age, within in (
            (self.first_order_within_days, max(ages, default=None), True),
            (self.last_order_within_days, min(ages, default=None), True),
            (self.last_order_older_than_days, min(ages, default=None), False),
        ):
            if threshold is None:
                continue
            if age is None or (age > threshold if within else age <= threshold):
                return False
        return True

    def day_thresholds(self) -> set[int]:
        days = {
            d
            for d in (self.first_order_within_days, self.last_order_within_days, self.last_order_older_than_days)
            if d is not None
        }
        days |= {w.days for w in (self.orders_within, self.revenue_within) if w is not None}
        return days


class Step(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    when: Condition = Field(default_factory=Condition)


class Staircase(_Strict):
    version: str = Field(default="default-1", min_length=1, max_length=64)
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _complete(self) -> Staircase:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        if not self.steps or self.steps[-1].when != Condition():
            raise ValueError("the last step must have no condition (everyone stands somewhere)")
        return self

    @classmethod
    def default(
        cls,
        version: str = "default-1",
        vip_orders: int = 4,
        vip_window_days: int = 365,
        new_days: int = 90,
        active_days: int = 180,
        at_risk_days: int = 365,
    ) -> Staircase:
        if not new_days < active_days < at_risk_days:
            raise ValueError("staircase needs new_days < active_days < at_risk_days")
        return cls(
            version=version,
            steps=(
                Step(name="prospect", when=Condition(no_orders=True)),
                Step(name="vip", when=Condition(orders_within=Within(count=vip_orders, days=vip_window_days))),
                Step(name="new", when=Condition(first_order_within_days=new_days)),
                Step(name="active", when=Condition(last_order_within_days=active_days)),
                Step(name="at_risk", when=Condition(last_order_within_days=at_risk_days)),
                Step(name="inactive"),
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> Staircase:
        """A full definition (``{"version", "steps": [...]}``) or threshold overrides of the default
        (``{"version": "shop-2", "new_days": 60}``); raises ValueError naming what is wrong."""
        values: Any = json.loads(text) if text and text.strip() else {}
        if not isinstance(values, dict):
            raise ValueError("a staircase definition is a JSON object")
        try:
            if "steps" in values:
                return cls.model_validate(values)
            return cls.default(**values)
        except TypeError as exc:
            raise ValueError(f"unknown staircase settings: {exc}") from exc
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from exc

    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def step_of(self, orders: list[tuple[date, Decimal]], today: date) -> str:
        past = [(d, v) for d, v in orders if d <= today]
        return next(s.name for s in self.steps if s.when.holds(past, today))


@dataclass(frozen=True)
class Placement:
    step: str
    review_on: date | None  # first date on which the step changes without new orders


def place(orders: list[tuple[date, Decimal]] | list[date], today: date, stairs: Staircase | None = None) -> Placement:
    """Classify a customer from their counted orders (UTC date, value) or just their dates."""
    s = stairs or Staircase.default()
    facts = [o if isinstance(o, tuple) else (o, Decimal(0)) for o in orders]
    current = s.step_of(facts, today)
    offsets = {d + 1 for step in s.steps for d in step.when.day_thresholds()}
    candidates = sorted({d + timedelta(days=o) for d, _ in facts for o in offsets if d + timedelta(days=o) > today})
    for day in candidates:
        if s.step_of(facts, day) != current:
            return Placement(current, day)
    return Placement(current, None)
