"""What a journey hands to sending: the send request, typed once. The journey's plan produces
its fields, the state machine's Send state passes them (its payload is built from this model,
``journey_definition.py``), and ``services/sender.send_step`` validates them on arrival; the
double opt-in confirmation builds the same request without a journey."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SendRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    customer_id: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    step_id: str = Field(min_length=1)  # the journey step
    template: str = Field(min_length=1)
    execution: str = Field(min_length=1)  # the journey (its execution name): with the step, the ledger key
    consent_purpose: str = "newsletter"  # the purpose whose consent the mail needs; decides the mail kind
    voucher_prefix: str | None = None  # a personal voucher code with this prefix, or none
    correlation_id: str | None = None  # carried from the event that started the journey, for the logs
    # set by the confirmation mail only (not from a journey):
    confirm_url: str | None = Field(default=None, json_schema_extra={"journey": False})


# The fields the state machine's Send state passes from the journey's state (the execution's
# name is the journey's own).
JOURNEY_FIELDS = tuple(
    name
    for name, field in SendRequest.model_fields.items()
    if not (isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("journey") is False)
)
