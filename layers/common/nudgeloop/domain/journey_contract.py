"""The journey's contract, typed once: its state and the send request it hands to sending.

- :class:`JourneyState` is what the state machine carries between its tasks: the trigger starts it
  (``services/trigger.py``), the interpreter advances it (``domain/journeys.next_action``, through
  ``services/journey.plan``), Park stores it, the forecast walks it.
- :class:`SendRequest` is what the Send state passes from that state (its payload is built from
  this model, ``journey_definition.py``); ``services/sender.send_step`` validates it on arrival; the
  double opt-in confirmation builds the same request without a journey.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nudgeloop.domain.contact_policy import DEFAULT_PRIORITY
from nudgeloop.domain.vouchers import DEFAULT_VALID_DAYS

Action = Literal["send", "wait", "end"]


class SendRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    customer_id: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    step_id: str = Field(min_length=1)  # the journey step
    template: str = Field(min_length=1)
    execution: str = Field(min_length=1)  # the journey (its execution name): with the step, the ledger key
    consent_purpose: str = "newsletter"  # the purpose whose consent the mail needs; decides the mail kind
    voucher_prefix: str | None = None  # a personal voucher code with this prefix, or none
    voucher_pool: str | None = None  # or a code taken from this pool the shop uploaded
    voucher_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=366)  # how long the voucher is valid
    # how many days a capped marketing mail may wait for the frequency cap (0: capped at once)
    cap_deferral_days: int = Field(default=0, ge=0, le=30)
    priority: int = Field(default=DEFAULT_PRIORITY, ge=1, le=10)  # the campaign's: which earlier mails count against its cap
    correlation_id: str | None = None  # carried from the event that started the journey, for the logs
    # what started the journey (its type and the ids it names: the event, the migration, the
    # date); the template reads the rest (the event's properties) through ``trigger``
    trigger: dict[str, Any] = Field(default_factory=dict)
    # set by the confirmation mail only (not from a journey):
    confirm_url: str | None = Field(default=None, json_schema_extra={"journey": False})


# The fields the state machine's Send state passes from the journey's state (the execution's
# name is the journey's own).
JOURNEY_FIELDS = tuple(
    name
    for name, field in SendRequest.model_fields.items()
    if not (isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("journey") is False)
)


class JourneyState(BaseModel):
    """One journey's state between the state machine's tasks (JSON in the execution).

    Dumped whole (:meth:`wire`, every field present, None as null): the state machine's paths
    (``$.action``, ``$.park_timeout_s``, the Send payload's fields) fail on a missing field in
    Step Functions. Unknown fields (a state written by an older version) are dropped on reading.
    """

    model_config = ConfigDict(extra="ignore")

    # set at entry (the trigger)
    campaign_id: str = ""
    version_id: str | None = None  # the campaign version pinned at entry
    customer_id: str = ""
    execution: str = ""  # the execution's name (an idempotency key, domain/idempotency.execution_name)
    entered_at: str | None = None
    correlation_id: str | None = None
    trigger: dict[str, Any] = Field(default_factory=dict)  # what started it (from, to, kind, ref, ...)
    # the interpreter's position
    cursor: int = 0  # the next journey step
    entry: str | None = None  # entered, not_in_audience or holdout: decided once, at the first plan
    variants: dict[str, str] = Field(default_factory=dict)  # split step -> the arm taken
    # the next action and its details
    action: Action | None = None
    reason: str | None = None  # why it ended
    waiting: str | None = None  # the wait step (or "window:<step>", "held:<step>") parked on
    wait_until: str | None = None
    park_timeout_s: int | None = None
    step_id: str | None = None  # the send step
    template: str | None = None
    voucher_prefix: str | None = None
    voucher_pool: str | None = None
    voucher_days: int = DEFAULT_VALID_DAYS
    consent_purpose: str = "newsletter"
    cap_deferral_days: int = 0
    priority: int = DEFAULT_PRIORITY
    last: dict[str, Any] | None = None  # the Send task's result ({"status": ..., "result": {...}})
    # points steps passed by this Plan ({"step_id", "points", "reason"}): granted by it, once each
    grants: list[dict[str, Any]] = Field(default_factory=list)
    # cool-downs after a task failed every try: {"n": how many so far}, counted by the state
    # machine (journey_definition.RECOVERY_DELAYS_S); the failure ({"Error", "Cause"}) and the task it
    # ended, until Plan has logged them
    recovery: dict[str, int] = Field(default_factory=lambda: {"n": 0})
    fault: dict[str, Any] | None = None
    failed_task: str | None = None  # which (journey_definition.RECOVERABLE)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def advanced(self, **changes: Any) -> JourneyState:
        """A copy with ``changes`` applied (validated)."""
        return JourneyState.model_validate({**self.model_dump(), **changes})


# Every field the Send state passes comes from the journey's state (checked at import: a field
# added to one side only fails here, not at the first send on AWS).
_missing = set(JOURNEY_FIELDS) - set(JourneyState.model_fields)
if _missing:  # pragma: no cover - a programming error
    raise TypeError(f"the send request needs journey state fields it does not have: {sorted(_missing)}")


@dataclass(frozen=True)
class ParkedTimer:
    """A waiting journey's task token, parked until ``due_at`` (``dal/timers.py``); the wake sweep
    resumes the journey with it."""

    execution: str
    token: str
    due_at: str


@dataclass(frozen=True)
class JourneyEntry:
    """How a journey's entry ended up (``entered``, ``holdout``, ``not_in_audience``), recorded once
    per execution (``dal/campaign_stats.record_entry``); entered and holdout ones are compared
    when their attribution window closes."""

    campaign_id: str
    execution: str
    outcome: str
    customer_id: str
    entered_at: str
