"""A test of one value (a property of an event, a customer attribute), the same wherever it is
asked: in Python by a behaviour trigger (``Match.holds``, where the event's values are) and in
SQL by an audience (``audience_sql._match``). ``tests/unit/test_matches.py`` holds the two to the
same answers."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """Bounds on a number: ``min``/``max`` inclusive, ``gt``/``lt`` exclusive (at least one)."""

    min: float | None = None
    max: float | None = None
    gt: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Range:
        if all(v is None for v in (self.min, self.max, self.gt, self.lt)):
            raise ValueError("a range needs min, max, gt or lt")
        return self


class Match(_Strict):
    """A test of one value: equal to ``eq``, one of ``in``, within a range, or present at all."""

    eq: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1, max_length=1000)
    min: float | None = None
    max: float | None = None
    gt: float | None = None
    lt: float | None = None
    exists: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _some(self) -> Match:
        if all(v is None for v in (self.eq, self.in_, self.min, self.max, self.gt, self.lt, self.exists)):
            raise ValueError("a match needs eq, in, min, max, gt, lt or exists")
        return self

    def numeric(self) -> bool:
        return any(v is not None for v in (self.min, self.max, self.gt, self.lt))

    def holds(self, value: Any) -> bool:
        """This test on a JSON value, as the compiled SQL judges it (``audience_sql._match``): on
        the value's text, numbers compared as numbers; a missing value or JSON null is absent.
        ``tests/unit/test_audiences.py`` holds the two to the same answers."""
        text = _text(value)
        if self.exists is not None and (text is not None) != self.exists:
            return False
        if self.eq is not None and not _equals(text, self.eq):
            return False
        if self.in_ is not None and not any(_equals(text, v) for v in self.in_):
            return False
        if self.numeric():
            number = _number(text)
            if number is None:
                return False
            if self.min is not None and not number >= self.min:
                return False
            if self.max is not None and not number <= self.max:
                return False
            if self.gt is not None and not number > self.gt:
                return False
            if self.lt is not None and not number < self.lt:
                return False
        return True


def _text(value: Any) -> str | None:
    """A JSON value as SQL's ``json_extract_string`` gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _equals(text: str | None, wanted: Scalar) -> bool:
    if text is None:
        return False
    if isinstance(wanted, bool):
        return text.lower() == ("true" if wanted else "false")
    if isinstance(wanted, int | float):
        return _number(text) == float(wanted)
    return text == wanted
