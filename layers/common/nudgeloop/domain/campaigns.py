"""Campaign definitions (what marketers write) and the journey interpreter (pure)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from nudgeloop.domain import contact_policy
from nudgeloop.domain.audiences import AudienceId
from nudgeloop.domain.dates import DateKind, DateRule
from nudgeloop.domain.matches import Match
from nudgeloop.domain.vouchers import DEFAULT_VALID_DAYS, POOL_NAME
from nudgeloop.domain.windows import SendWindow

CampaignId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
END = "end"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MigrationTrigger(_Strict):
    type: Literal["segment_migrated"]
    from_: list[str] | None = Field(default=None, alias="from")
    to: list[str]

    def matches(self, detail: dict[str, Any]) -> bool:
        if detail.get("to") not in self.to:
            return False
        return self.from_ is None or detail.get("from") in self.from_


class DateTrigger(_Strict):
    type: Literal["date_reached"]
    kind: DateKind
    days: int = Field(default=0, ge=0, le=730)

    @model_validator(mode="after")
    def _days(self) -> DateTrigger:
        yearly = self.kind in ("birthday", "first_purchase_anniversary")
        if yearly and self.days:
            raise ValueError(f"{self.kind} takes no days")
        if not yearly and not self.days:
            raise ValueError(f"{self.kind} needs days (1 or more)")
        return self

    def rule(self) -> DateRule:
        return DateRule(self.kind, self.days)

    def matches(self, detail: dict[str, Any]) -> bool:
        return bool(detail.get("kind") == self.kind and int(detail.get("days", 0)) == self.days)


class BehaviourTrigger(_Strict):
    """A customer's own action: ``order.completed``, ``cart.abandoned``, ``signup``, ... or a
    ``custom.*`` event; one journey per event (re-entry every occurrence is what it means)."""

    type: Literal["behaviour"]
    event: Annotated[
        str,
        StringConstraints(
            pattern=r"^(order\.completed|order\.refunded|cart\.abandoned|cart\.updated|signup|referral\.created|referral\.converted"
            r"|page\.viewed|service\.booked|custom\.[a-z0-9_.-]{1,60})$"
        ),
    ]

    # only events that carry these properties (e.g. a ``signup`` with a ``referral_code``)
    with_properties: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] | None = None
    # only events whose properties match, as an audience's ``events`` condition matches them
    # (``total: {min: 100}``, ``channel: {in: [store]}``, ``seconds: {gt: 20}``)
    where: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")], Match] = Field(
        default_factory=dict, max_length=20
    )

    def holds(self, event_type: str, properties: dict[str, Any]) -> bool:
        """Whether an event starts this trigger: its type, the properties it carries, their values.
        Decided where the event's values are (processing); the bus carries ids and names only."""
        if event_type != self.event:
            return False
        present = {k for k, v in properties.items() if v not in (None, "", [], {})}
        if not set(self.with_properties or ()) <= present:
            return False
        return all(m.holds(properties.get(name)) for name, m in self.where.items())

    def matches(self, detail: dict[str, Any]) -> bool:
        if detail.get("event_type") != self.event:
            return False
        return set(self.with_properties or ()) <= set(detail.get("properties") or ())


class ScheduleTrigger(_Strict):
    """A recurring send to everyone on some steps (a newsletter): monthly on ``day_of_month``
    or weekly on ``weekday``, checked by the daily run (its time of day is the schedule's)."""

    type: Literal["schedule"]
    segments: list[str] = Field(min_length=1)
    day_of_month: int | None = Field(default=None, ge=1, le=28)
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None

    @model_validator(mode="after")
    def _one(self) -> ScheduleTrigger:
        if (self.day_of_month is None) == (self.weekday is None):
            raise ValueError("give day_of_month or weekday (one of them)")
        return self

    def due(self, day: date) -> bool:
        if self.day_of_month is not None:
            return day.day == self.day_of_month
        return ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()] == self.weekday

    def matches(self, detail: dict[str, Any]) -> bool:
        return True  # the daily run addresses each ScheduleReached to its campaign


class AudienceTrigger(_Strict):
    """A customer entering a saved audience (docs/audiences.md): found by the daily membership
    evaluation after the audience snapshot, as the change from the memberships it stored the day
    before. An audience's first evaluation is its baseline: its members then entered nothing."""

    type: Literal["audience_entered"]
    audience: AudienceId

    def matches(self, detail: dict[str, Any]) -> bool:
        return detail.get("audience_id") == self.audience


Trigger = Annotated[
    MigrationTrigger | DateTrigger | BehaviourTrigger | ScheduleTrigger | AudienceTrigger, Field(discriminator="type")
]


class SendStep(_Strict):
    id: StepId
    type: Literal["send"]
    template: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    # a unique voucher code per recipient and journey (``PREFIX-7F3K9QXM4T``) as ``voucher`` in
    # the template, stored when the mail goes and valid ``voucher_days`` (``voucher_expires_on``)
    voucher_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,16}$")] | None = None
    # or a code from a pool the shop uploaded (``POST /v1/voucher-pools/{pool}/codes``); with the
    # pool empty, the mail is not sent (recorded failed, ``voucher_pool_empty``, an error logged)
    voucher_pool: Annotated[str, StringConstraints(pattern=POOL_NAME)] | None = None
    voucher_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=366)

    @model_validator(mode="after")
    def _one_voucher_source(self) -> SendStep:
        if self.voucher_prefix and self.voucher_pool:
            raise ValueError("voucher_prefix and voucher_pool exclude each other: a mail carries one code")
        return self


class PointsStep(_Strict):
    """Grant loyalty points: ``loyalty.points_granted`` in the customer's history, sent on to the
    shop's loyalty system by the outbound webhooks (docs/webhooks.md). Once per journey and step;
    it sends no mail and costs no state transition of its own."""

    id: StepId
    type: Literal["points"]
    points: int = Field(ge=1, le=1_000_000)
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "campaign"


class Until(_Strict):
    """Wait until a moment that depends on the customer (or a fixed date), in their own time.

    ``anchor`` is the date counted from: a fixed ``day``, the booking the journey started on
    (``booking_start``/``booking_end``, from a service date trigger), the customer's
    ``last_order`` or ``first_order``, or ``send_window`` (the next moment a mail may go out).
    To it come ``offset_days`` and ``order_gap_multiple`` times the customer's average days
    between orders (customers with fewer than two orders get ``fallback_days`` instead). The wait
    ends at ``at_hour`` local time that day, at most ``max_days`` after it began; a moment
    already past ends it at once. A journey whose anchor is missing (no booking, no order) ends.
    """

    anchor: Literal["date", "booking_start", "booking_end", "last_order", "first_order", "send_window"]
    day: date | None = None  # with anchor ``date`` (not ``on``: YAML reads that as true)
    offset_days: int = Field(default=0, ge=-365, le=365)
    order_gap_multiple: float | None = Field(default=None, gt=0, le=10)
    fallback_days: int = Field(default=0, ge=0, le=730)
    at_hour: int = Field(default=9, ge=0, le=23)
    max_days: int | None = Field(default=None, ge=1, le=400)

    @model_validator(mode="after")
    def _date(self) -> Until:
        if (self.anchor == "date") != (self.day is not None):
            raise ValueError("day goes with anchor: date (and only with it)")
        if self.anchor == "send_window" and (self.offset_days or self.order_gap_multiple):
            raise ValueError("anchor send_window takes no offset_days or order_gap_multiple")
        return self


class WaitStep(_Strict):
    id: StepId
    type: Literal["wait"]
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=24 * 365)
    until: Until | None = None

    @model_validator(mode="after")
    def _positive(self) -> WaitStep:
        if self.until is not None and (self.days or self.hours):
            raise ValueError("a wait is either days/hours or until (not both)")
        if self.until is None and self.days == 0 and self.hours == 0:
            raise ValueError("a wait needs days or hours (or until)")
        return self

    def duration(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


class Condition(_Strict):
    """All given facts must hold (about the time since the journey began)."""

    ordered_since_entry: bool | None = None
    opened_since_entry: bool | None = None  # a mail of this journey was opened
    clicked_since_entry: bool | None = None  # a link in a mail of this journey was clicked
    segment_in: list[str] | None = None
    attributes: dict[str, str | int | float | bool] | None = None


class BranchStep(_Strict):
    id: StepId
    type: Literal["branch"]
    when: Condition = Field(alias="if")
    then: str
    otherwise: str = Field(alias="else")


class ExitStep(_Strict):
    id: StepId
    type: Literal["exit"]


class Variant(_Strict):
    to: str  # a step id or ``end``
    weight: int = Field(ge=1, le=1000)


class SplitStep(_Strict):
    """A/B (or more) test: each customer goes one way, chosen by a stable hash, by weight."""

    id: StepId
    type: Literal["split"]
    variants: list[Variant] = Field(min_length=2, max_length=10)

    def pick(self, campaign_id: str, customer_id: str) -> str:
        total = sum(v.weight for v in self.variants)
        point = int(hashlib.sha256(f"split|{campaign_id}|{self.id}|{customer_id}".encode()).hexdigest()[:8], 16) % total
        for variant in self.variants:
            if point < variant.weight:
                return variant.to
            point -= variant.weight
        return self.variants[-1].to


Step = Annotated[SendStep | WaitStep | BranchStep | ExitStep | SplitStep | PointsStep, Field(discriminator="type")]


class Audience(_Strict):
    """Who may enter, checked when the trigger fires: all given conditions must hold."""

    segment_in: list[str] | None = None
    attributes: dict[str, str | int | float | bool] | None = None  # each must equal the customer's
    # a saved audience (docs/audiences.md) the customer is a member of, as of its latest daily
    # membership evaluation
    saved: AudienceId | None = None

    def admits(self, segment: str, attributes: dict[str, Any], member_of: frozenset[str] = frozenset()) -> bool:
        if self.segment_in is not None and segment not in self.segment_in:
            return False
        if self.saved is not None and self.saved not in member_of:
            return False
        return all(attributes.get(k) == v for k, v in (self.attributes or {}).items())


class Campaign(_Strict):
    id: CampaignId
    name: str
    # the mail kind (the glossary's ``mail_kind``; ``purpose``, its older name, is still read)
    mail_kind: Literal["marketing", "service"] = Field(default="marketing", validation_alias=AliasChoices("mail_kind", "purpose"))
    consent_purpose: Literal["newsletter", "marketing", "service"] = "newsletter"
    enabled: bool = True
    # a draft is validated and can be simulated, but nobody enters it
    draft: bool = False
    # entries only from ``starts_at`` and before ``ends_at`` (journeys already running go on)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    trigger: Trigger
    reentry: Literal["never", "every_occurrence", "after_days"] = "never"
    reentry_days: int | None = Field(default=None, ge=1, le=3650)  # with ``after_days``
    exit_on_order: bool = False
    # leave the journey as soon as the customer is no longer on one of these steps
    exit_unless_segment_in: list[str] | None = None
    audience: Audience | None = None
    # share of entrants (chosen by a hash of campaign and customer, so stable) that get no mail:
    # the control group the campaign's uplift is measured against
    holdout_percent: float = Field(default=0, ge=0, le=50)
    # when its mails may go out, in the customer's time (else the stack's global window, if any)
    send_window: SendWindow | None = None
    # 1-10: the frequency cap of a campaign's mail counts only earlier mails at least as important
    priority: int = Field(default=contact_policy.DEFAULT_PRIORITY, ge=1, le=10)
    # a marketing mail over the frequency cap waits up to this many days for the cap to allow
    # it, then is skipped as capped (0: skipped at once)
    cap_deferral_days: int = Field(default=7, ge=0, le=30)
    steps: list[Step] = Field(min_length=1, max_length=50)

    def saved_audiences(self) -> frozenset[str]:
        """The saved audiences this campaign reads memberships of (entry or trigger)."""
        named = {self.audience.saved if self.audience is not None else None}
        named.add(self.trigger.audience if isinstance(self.trigger, AudienceTrigger) else None)
        return frozenset(n for n in named if n is not None)

    @property
    def marketing(self) -> bool:
        """The mail kind, decided by the contact policy from the consent purpose (and ``mail_kind``
        must agree): marketing mail needs consent, keeps to the send window, is capped and paused."""
        return contact_policy.is_marketing(self.consent_purpose)

    @model_validator(mode="after")
    def _mail_kind(self) -> Campaign:
        if (self.mail_kind == "marketing") != contact_policy.is_marketing(self.consent_purpose):
            raise ValueError(
                "mail_kind and consent_purpose disagree: a marketing campaign needs a marketing consent purpose "
                "(newsletter, marketing), a service campaign the service one"
            )
        return self

    def takes_entries(self, now: datetime) -> bool:
        """Whether a trigger may start a journey of this campaign at ``now``."""
        if not self.enabled or self.draft:
            return False
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)

    @model_validator(mode="after")
    def _period(self) -> Campaign:
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @model_validator(mode="after")
    def _reentry(self) -> Campaign:
        if (self.reentry == "after_days") != (self.reentry_days is not None):
            raise ValueError("reentry_days goes with reentry: after_days (and only with it)")
        return self

    @model_validator(mode="after")
    def _targets(self) -> Campaign:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        for step in self.steps:
            targets = [step.then, step.otherwise] if isinstance(step, BranchStep) else []
            targets += [v.to for v in step.variants] if isinstance(step, SplitStep) else []
            for target in targets:
                if target != END and target not in ids:
                    raise ValueError(f"step {step.id}: unknown target {target}")
        return self

    @model_validator(mode="after")
    def _bounded(self) -> Campaign:
        """A journey is one Standard execution, which lives at most a year: steps may not loop
        back, and the longest path's waits (an ``until`` counts with its ``max_days``) must end
        within ``MAX_JOURNEY_DAYS``. Waits known only at run time end the journey (``time_limit``)
        rather than outlive it."""
        days = longest_path_days(self)
        if days > MAX_JOURNEY_DAYS:
            raise ValueError(
                f"the longest path through the steps waits {days:g} days; a journey must end within "
                f"{MAX_JOURNEY_DAYS} days (a Step Functions Standard execution lasts at most a year)"
            )
        return self

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)


# A Standard execution lasts at most 365 days; five are kept for send-window slots and retries.
MAX_JOURNEY_DAYS = 360


def _successors(campaign: Campaign, i: int) -> list[int | None]:
    step = campaign.steps[i]
    if isinstance(step, BranchStep):
        targets = [step.then, step.otherwise]
    elif isinstance(step, SplitStep):
        targets = [v.to for v in step.variants]
    elif isinstance(step, ExitStep):
        return [None]
    else:
        return [i + 1 if i + 1 < len(campaign.steps) else None]
    return [None if t == END else campaign.index(t) for t in targets]


def longest_path_days(campaign: Campaign) -> float:
    """The most days a journey of ``campaign`` can wait; raises ValueError if its steps loop."""
    memo: dict[int, float] = {}
    visiting: set[int] = set()

    def walk(i: int) -> float:
        if i in memo:
            return memo[i]
        if i in visiting:
            raise ValueError(f"steps loop back to {campaign.steps[i].id}: a journey must end (at most a year)")
        visiting.add(i)
        step = campaign.steps[i]
        own = 0.0
        if isinstance(step, WaitStep):
            own = step.days + step.hours / 24 if step.until is None else float(step.until.max_days or 0)
        memo[i] = own + max((walk(j) for j in _successors(campaign, i) if j is not None), default=0.0)
        visiting.discard(i)
        return memo[i]

    return walk(0)


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a campaign definition (docs/campaign.schema.json), generated
    from the same model that validates uploads, so the two cannot disagree."""
    schema = Campaign.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nudgeloop.dev/campaign.schema.json",
        **schema,
    }
