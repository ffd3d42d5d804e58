"""Audience definitions: who a marketer selects, as data (YAML or JSON, like campaigns).

An audience is one condition tree: ``all`` / ``any`` / ``not`` over condition kinds on the
profile, the staircase, consent, orders, behaviour (any event type), email engagement, computed
values (CLV) and dates. Every window is "within the last N days" of the moment the audience is
evaluated, or "after an anchor" of the customer's own (their latest store order, ...).
``domain/audience_sql.py`` compiles a definition to one SQL query over the audience tables
(``docs/audiences.md``); nothing here reads data.

Conventions, decided once here and in the compiler:
- orders count unless refunded (any refund of an order takes the whole order out, as the
  staircase counts); amounts are the order's ``total`` (or the matching items' price x quantity
  when a category or sku is named), in the named currency if one is given;
- ages and "days since" are in UTC calendar days; a birthday "in N days" is in the customer's
  timezone, 29 February falling on 28 February in non-leap years (``domain/dates.yearly``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, field_validator

from nudgeloop.domain.audience_exports import ExportRequest
from nudgeloop.domain.matches import Match, Range

AUDIENCE_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"  # also the API's path parameter (api.py, openapi.py)
AudienceId = Annotated[str, StringConstraints(pattern=AUDIENCE_ID)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]
Days = Annotated[int, Field(ge=1, le=3650)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# An anchor of the customer's own: the window starts after it (no anchor: nothing qualifies).
Anchor = Literal["first_order", "latest_order", "latest_store_order", "latest_webshop_order", "latest_app_order"]


class Window(_Strict):
    """Which events count by time: within the last ``within_days``, and/or after ``after``."""

    within_days: Days | None = None
    after: Anchor | None = None


# ---------------------------------------------------------------- condition kinds
# Each condition is a mapping with one key, its kind, holding what it tests: ``{age: {min: 25}}``.


class Attribute(Match):
    """A shop-defined attribute (``customer.upserted`` ``attributes``)."""

    name: Name


class Profile(Match):
    field: Literal["country", "locale", "timezone", "gender", "email", "postal_code", "city"]


class Step(_Strict):
    """The customer's current step on the staircase, and for how many days they have been on it."""

    in_: list[str] = Field(alias="in", min_length=1)
    for_days: Range | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Moved(_Strict):
    """A move on the staircase within the last ``within_days``."""

    from_: list[str] | None = Field(default=None, alias="from")
    to: list[str] | None = None
    within_days: Days

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Consent(_Strict):
    """The latest consent statement for ``purpose`` is one of ``status`` (``none``: never stated)."""

    purpose: Literal["newsletter", "marketing", "service"]
    status: list[Literal["opt_in", "opt_out", "pending", "none"]] = Field(min_length=1)


class Orders(_Strict):
    """Counted (not refunded) orders, optionally of a channel, a currency, and items of a category
    or sku, in a window: their number and their sum. Without a ``count`` it means at least one
    such order (``count: {max: 0}`` selects those without; ``{min: 0}`` anyone)."""

    channel: Literal["webshop", "store", "app"] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    category: str | None = None
    sku: str | None = None
    window: Window = Field(default_factory=Window)
    count: Range | None = None
    total: Range | None = None

    def measured_count(self) -> Range:
        return self.count if self.count is not None else Range(min=1)


class Events(_Strict):
    """Events of one ``type`` whose properties match ``where``, in a window: how many and on how
    many UTC days (``distinct_days``). Without a ``count`` it means at least one such event."""

    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    where: dict[Name, Match] = Field(default_factory=dict, max_length=20)
    window: Window = Field(default_factory=Window)
    count: Range | None = None
    distinct_days: Range | None = None

    def measured_count(self) -> Range:
        return self.count if self.count is not None else Range(min=1)


class Engagement(_Strict):
    """Campaign mails the customer was ``sent``, ``opened`` or ``clicked`` in the last N days."""

    kind: Literal["sent", "opened", "clicked"]
    within_days: Days
    count: Range = Field(default_factory=lambda: Range(min=1))


class Unopened(_Strict):
    """None of the customer's last ``last`` mails was opened (and at least that many were sent)."""

    last: Annotated[int, Field(ge=1, le=100)]


class Clv(_Strict):
    """A computed value of the latest CLV fit."""

    value: Literal["expected_value_12m", "p_alive", "expected_purchases_90d"]
    range: Range


class Birthday(_Strict):
    """The birthday is exactly ``in_days`` days from today in the customer's timezone (0: today)."""

    in_days: Annotated[int, Field(ge=0, le=366)]


class DaysSince(_Strict):
    """Whole UTC days since the customer's first or latest counted order."""

    order: Literal["first", "latest"]
    range: Range


class Booking(_Strict):
    """Days from now until the nearest booked service ahead starts (of ``service``, if named)."""

    days_until: Range
    service: str | None = None


class AttributeCondition(_Strict):
    attribute: Attribute


class ProfileCondition(_Strict):
    profile: Profile


class AgeCondition(_Strict):
    """Age in whole years today (UTC), from a ``birthday`` with a year."""

    age: Range


class StepCondition(_Strict):
    step: Step


class MovedCondition(_Strict):
    moved: Moved


class ConsentCondition(_Strict):
    consent: Consent


class OrdersCondition(_Strict):
    orders: Orders


class EventsCondition(_Strict):
    events: Events


class EngagementCondition(_Strict):
    engagement: Engagement


class UnopenedCondition(_Strict):
    unopened: Unopened


class ClvCondition(_Strict):
    clv: Clv


class OrderGapCondition(_Strict):
    """The average days between counted orders (needs two orders)."""

    order_gap_days: Range


class BirthdayCondition(_Strict):
    birthday: Birthday


class DaysSinceCondition(_Strict):
    days_since: DaysSince


class BookingCondition(_Strict):
    booking: Booking


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1, max_length=50)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1, max_length=50)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_KINDS: dict[str, type[BaseModel]] = {
    "all": AllOf,
    "any": AnyOf,
    "not": NotOf,
    "attribute": AttributeCondition,
    "profile": ProfileCondition,
    "age": AgeCondition,
    "step": StepCondition,
    "moved": MovedCondition,
    "consent": ConsentCondition,
    "orders": OrdersCondition,
    "events": EventsCondition,
    "engagement": EngagementCondition,
    "unopened": UnopenedCondition,
    "clv": ClvCondition,
    "order_gap_days": OrderGapCondition,
    "birthday": BirthdayCondition,
    "days_since": DaysSinceCondition,
    "booking": BookingCondition,
}
KINDS = tuple(_KINDS)


def _kind(value: Any) -> str | None:
    """Which condition a mapping is: the one kind key it has (so an error names that kind's fields)."""
    if isinstance(value, BaseModel):
        return next((k for k, model in _KINDS.items() if isinstance(value, model)), None)
    if isinstance(value, dict):
        return next((k for k in _KINDS if k in value), None)
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[ProfileCondition, Tag("profile")]
    | Annotated[AgeCondition, Tag("age")]
    | Annotated[StepCondition, Tag("step")]
    | Annotated[MovedCondition, Tag("moved")]
    | Annotated[ConsentCondition, Tag("consent")]
    | Annotated[OrdersCondition, Tag("orders")]
    | Annotated[EventsCondition, Tag("events")]
    | Annotated[EngagementCondition, Tag("engagement")]
    | Annotated[UnopenedCondition, Tag("unopened")]
    | Annotated[ClvCondition, Tag("clv")]
    | Annotated[OrderGapCondition, Tag("order_gap_days")]
    | Annotated[BirthdayCondition, Tag("birthday")]
    | Annotated[DaysSinceCondition, Tag("days_since")]
    | Annotated[BookingCondition, Tag("booking")],
    Discriminator(
        _kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition is one of: " + ", ".join(_KINDS),
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class Publication(ExportRequest):
    """A file of the audience's members written every day, after the day's snapshot, to
    ``publications/<audience>/<id>/`` and announced to the webhooks subscribed to
    ``audience.published`` (docs/audiences.md, publications)."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class Audience(_Strict):
    id: AudienceId
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    where: Condition
    publish: tuple[Publication, ...] = Field(default=(), max_length=5)

    @field_validator("publish")
    @classmethod
    def _distinct(cls, value: tuple[Publication, ...]) -> tuple[Publication, ...]:
        ids = [p.id for p in value]
        if len(set(ids)) != len(ids):
            raise ValueError("publication ids must be distinct")
        return value

    def conditions(self) -> list[Any]:
        """Every leaf condition, depth first (what the compiler gives a measure each)."""
        found: list[Any] = []

        def walk(node: Any) -> None:
            if isinstance(node, AllOf | AnyOf):
                for child in node.all if isinstance(node, AllOf) else node.any:
                    walk(child)
            elif isinstance(node, NotOf):
                walk(node.not_)
            else:
                found.append(node)

        walk(self.where)
        return found
