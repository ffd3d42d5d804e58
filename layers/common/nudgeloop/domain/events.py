"""Inbound events: the documented schemas, validation and de-duplication keys."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from nudgeloop import clock
from nudgeloop.domain import addresses, dates, idempotency, identity, ids, ses_events

MAX_EVENTS_PER_BATCH = 100
MAX_BODY_BYTES = 1_000_000
MAX_EVENT_BYTES = 100_000  # well inside DynamoDB's 400 KB item limit
# What one customer item can hold, so that it stays far inside DynamoDB's 400 KB whatever clients
# send: at most 100 attributes (keys <= 64 characters, values <= 512) and 50 upcoming bookings,
# about 100 KB at worst. The API refuses an event that would go beyond (``ingest.accept_batch``);
# processing keeps the bound too (``process``), logging and counting what a race pushed past it.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTES_PER_EVENT = 50
MAX_BOOKINGS = 50

# Every moment an event carries lies in these years: later code adds days and years to them (review
# dates, windows, waits), which must never overflow; nothing a shop records lies outside them.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _bounded(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"a moment between {EARLIEST.year} and {LATEST.year}") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"a moment between {EARLIEST.year} and {LATEST.year}")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(_bounded)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=ids.MAX_ID, pattern=ids.ID_PATTERN)]
MAX_TEXT = 512  # characters of a name, title or attribute value
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
AttributeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=ids.MAX_ATTRIBUTE_KEY, pattern=ids.ATTRIBUTE_KEY_PATTERN)
]


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid")


def bounded_attributes(attributes: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """``attributes`` within what a customer can hold: at most MAX_ATTRIBUTES (the keys in
    ``keep`` first, then the others in sorted order), values of at most MAX_TEXT characters."""
    first = [k for k in keep if k in attributes]
    order = first + sorted(set(attributes) - set(first))
    return {k: (v[:MAX_TEXT] if isinstance(v, str) else v) for k in order[:MAX_ATTRIBUTES] for v in (attributes[k],)}


# The profile a customer.upserted event sets (and everything in it is personal data).
PROFILE_FIELDS = ("email", "first_name", "last_name", "locale", "timezone", "birthday", "gender", "country", "address")
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
Line = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PostalAddress(_Props):
    """A postal address, for print and cross-media exports; replaced whole by a newer one."""

    line1: Line
    line2: Line | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")]
    city: Line
    region: Line | None = None  # state, province or county, where the post needs one
    country: Country | None = None  # the customer's ``country`` when absent


class CustomerUpserted(_Props):
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    locale: Annotated[str, StringConstraints(pattern=ids.LOCALE_PATTERN)] | None = None
    timezone: Text | None = None
    birthday: str | None = None
    gender: Literal["female", "male", "other"] | None = None
    country: Country | None = None
    address: PostalAddress | None = None  # replaced whole by a newer one
    # a null value removes the attribute
    attributes: dict[AttributeKey, Text | int | float | bool | None] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES_PER_EVENT
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return addresses.mailbox(value) if value is not None else None

    @field_validator("birthday")
    @classmethod
    def _birthday(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                dates.parse_birthday(value)
            except ValueError as exc:
                raise ValueError("birthday must be YYYY-MM-DD or --MM-DD") from exc
            if not value.startswith("--") and not 1900 <= int(value[:4]) <= clock.now().year:
                raise ValueError("birthday must be a year from 1900 to this year (or --MM-DD)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and not dates.valid_timezone(value):
            raise ValueError("not an IANA timezone name")
        return value


class ConsentChanged(_Props):
    purpose: Literal["newsletter", "marketing", "service"]
    status: Literal["opt_in", "opt_out", "pending"]
    channel: Literal["email"] = "email"
    # where the statement was given (form, till, preference centre); the event's source otherwise
    source: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    # evidence for the statement: form id, IP address, double opt-in confirmation, ...
    proof: dict[str, Annotated[str, StringConstraints(max_length=512)]] = Field(default_factory=dict, max_length=20)


class OrderItem(_Props):
    sku: Identifier
    name: Text | None = None
    category: Text | None = None
    quantity: int = Field(default=1, ge=1, le=100_000)
    price: Decimal = Field(ge=0, max_digits=14, decimal_places=4)


class OrderCompleted(_Props):
    order_id: Identifier
    total: Money
    currency: Currency
    items: list[OrderItem] = Field(default_factory=list, max_length=500)
    channel: Literal["webshop", "store", "app"] = "webshop"


class OrderRefunded(_Props):
    order_id: Identifier
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)


class ServiceBooked(_Props):
    booking_id: Identifier
    service: Text
    starts_at: Instant
    ends_at: Instant

    @model_validator(mode="after")
    def _order(self) -> ServiceBooked:
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        return self


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^(https?://|/)\S*$")]


class PageViewed(_Props):
    url: Url
    title: Text | None = None
    sku: Identifier | None = None  # the product shown, when the page is a product page
    category: Text | None = None
    seconds: int | None = Field(default=None, ge=0, le=86_400)  # time on page
    referrer: Url | None = None


class CartItem(_Props):
    sku: Identifier
    name: Text | None = None
    category: Text | None = None
    quantity: int = Field(default=1, ge=1, le=100_000)
    price: Money | None = None


class CartUpdated(_Props):
    cart_id: Identifier
    items: list[CartItem] = Field(default_factory=list, max_length=500)
    total: Money | None = None
    currency: Currency | None = None
    cart_url: Url | None = None  # where a reminder mail sends the customer back to


class CartAbandoned(CartUpdated):
    pass


class Signup(_Props):
    form: Text | None = None  # which form, page or till
    list: Text | None = None  # which list or programme (newsletter, loyalty, ...)
    referral_code: Identifier | None = None


class ReferralCreated(_Props):
    """The event's customer is the referrer; the referee is named by email (not yet a customer)."""

    referee_email: Annotated[str, StringConstraints(max_length=254)]
    code: Identifier | None = None
    referee_customer_id: Identifier | None = None

    @field_validator("referee_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return addresses.mailbox(value)


class IdentityLinked(_Props):
    """The event's customer is the visitor a tracker knew by ``anonymous_id`` (domain/identity.py)."""

    anonymous_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


PROPERTY_MODELS: dict[str, type[BaseModel]] = {
    "customer.upserted": CustomerUpserted,
    "consent.changed": ConsentChanged,
    "order.completed": OrderCompleted,
    "order.refunded": OrderRefunded,
    "page.viewed": PageViewed,
    "cart.updated": CartUpdated,
    "cart.abandoned": CartAbandoned,
    "signup": Signup,
    "service.booked": ServiceBooked,
    "referral.created": ReferralCreated,
    identity.LINKED: IdentityLinked,
}
# ``custom.*`` events carry free-form properties (a JSON object, at most MAX_EVENT_BYTES).
# The events that make up a customer's orders (read back from the event log).
ORDER_TYPES = ("order.completed", "order.refunded")
# Produced by Nudgeloop itself (SES feedback); never accepted from clients.
VOUCHER_REDEEMED = "voucher.redeemed"
MIGRATION = "segment.migrated"  # a move on the staircase in the customer's history (its wire name: the glossary)
POINTS_GRANTED = "loyalty.points_granted"  # loyalty points a journey granted (sent on to the shop by webhook)
AUDIENCE_PUBLISHED = "audience.published"  # a publication's daily file written (announced by webhook)
JOURNEY_SOURCE = "nudgeloop.journey"  # the source of what journeys write into customers' histories
INTERNAL_TYPES = ses_events.FEEDBACK_TYPES | {VOUCHER_REDEEMED, POINTS_GRANTED}


class EventIn(BaseModel):
    """One event as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    event_id: Identifier | None = None
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    customer_id: Identifier
    occurred_at: Instant
    source: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "api"
    properties: dict[str, Any] = Field(default_factory=dict)


class Event(BaseModel):
    """A validated, normalised event: what the queue carries and the events table stores."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    customer_id: str
    occurred_at: datetime
    source: str
    properties: dict[str, Any]
    received_at: datetime

    def occurred_iso(self) -> str:
        return clock.iso(self.occurred_at)


class Rejection(BaseModel):
    index: int
    field: str
    reason: str


def _field_path(loc: tuple[int | str, ...], prefix: str) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _reason(message: str) -> str:
    """pydantic's message for a client, without its "Value error, " prefix."""
    return message.removeprefix("Value error, ")


def validate_event(raw: Any, index: int, received_at: datetime, max_future_skew: timedelta) -> Event | Rejection:
    """Validate one raw event; return the normalised event or a rejection naming the field."""
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        return Rejection(index=index, field=prefix, reason="an event must be a JSON object")
    if len(json.dumps(raw, separators=(",", ":"), default=str)) > MAX_EVENT_BYTES:
        return Rejection(index=index, field=prefix, reason=f"an event may be at most {MAX_EVENT_BYTES} bytes")
    try:
        head = EventIn.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        return Rejection(index=index, field=_field_path(err["loc"], prefix), reason=_reason(err["msg"]))
    if head.occurred_at > received_at + max_future_skew:
        return Rejection(
            index=index,
            field=f"{prefix}.occurred_at",
            reason="occurred_at lies in the future",
        )
    if head.type in (identity.LINKED, "consent.changed") and identity.is_anonymous(head.customer_id):
        # a statement of consent is a person's, to be applied at once: a visitor's would be kept unapplied
        return Rejection(index=index, field=f"{prefix}.customer_id", reason=f"{head.type} names a customer, not a visitor")
    model = PROPERTY_MODELS.get(head.type)
    if model is None and not head.type.startswith("custom."):
        reason = "reserved for Nudgeloop" if head.type in INTERNAL_TYPES else "unknown event type"
        return Rejection(index=index, field=f"{prefix}.type", reason=f"{reason}: {head.type}")
    properties = head.properties
    if model is not None:
        try:
            properties = model.model_validate(head.properties).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = _field_path(err["loc"], f"{prefix}.properties")
            return Rejection(index=index, field=field, reason=_reason(err["msg"]))
    normalised = {**raw, "occurred_at": clock.iso(head.occurred_at), "source": head.source}
    return Event(
        event_id=head.event_id or idempotency.event_id_from_content(normalised),
        type=head.type,
        customer_id=head.customer_id,
        occurred_at=head.occurred_at.astimezone(received_at.tzinfo),
        source=head.source,
        properties=properties,
        received_at=received_at,
    )
