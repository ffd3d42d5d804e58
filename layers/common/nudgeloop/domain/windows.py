"""Send windows: when a marketing mail may reach a customer, in the customer's own time.

A window allows certain weekdays and hours; it can skip the public holidays of the customer's
country (the ``holidays`` library), the day after a holiday, and Monday mornings. A send that
falls outside is moved to the next allowed moment, never dropped (pure; time comes in).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 60  # a window that allows nothing for this long is a configuration error


class SendWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    from_hour: int = Field(default=8, ge=0, le=23)
    to_hour: int = Field(default=20, ge=1, le=24)  # exclusive
    skip_holidays: bool = True
    skip_day_after_holiday: bool = False
    no_monday_morning: bool = False  # Mondays only from 12:00
    default_timezone: str = "UTC"  # for customers without one

    @model_validator(mode="after")
    def _hours(self) -> SendWindow:
        if self.to_hour <= self.from_hour:
            raise ValueError("to_hour must be after from_hour")
        return self

    def next_slot(self, now: datetime, timezone: str | None, country: str | None) -> datetime:
        """The earliest moment at or after ``now`` (aware) when a mail may go out, as UTC."""
        zone = _zone(timezone) or _zone(self.default_timezone) or ZoneInfo("UTC")
        local = now.astimezone(zone)
        for offset in range(SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self._day_allowed(day, country):
                continue
            opens = self.from_hour
            if self.no_monday_morning and day.weekday() == 0:
                opens = max(opens, 12)
            if opens >= self.to_hour:
                continue
            start = datetime.combine(day, time(opens), zone)
            close = datetime.combine(day, time(0), zone) + timedelta(hours=self.to_hour)
            candidate = max(start, local) if offset == 0 else start
            if candidate < close:
                return candidate.astimezone(ZoneInfo("UTC"))
        raise ValueError(f"the send window allows no time in {SEARCH_DAYS} days")

    def _day_allowed(self, day: date, country: str | None) -> bool:
        if WEEKDAYS[day.weekday()] not in self.weekdays:
            return False
        if self.skip_holidays and is_holiday(country, day):
            return False
        return not (self.skip_day_after_holiday and is_holiday(country, day - timedelta(days=1)))


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays  # only the journey planner needs it

    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:  # a country the library does not know: no holidays
        return frozenset()


def is_holiday(country: str | None, day: date) -> bool:
    """Whether ``day`` is a public (national) holiday in ``country`` (ISO 3166 alpha-2)."""
    return bool(country) and day in _holidays(str(country).upper(), day.year)
