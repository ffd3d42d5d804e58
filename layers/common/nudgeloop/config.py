"""Runtime settings, read from environment variables once per cold start and validated.

Every field maps to ``NL_<FIELD>``; the CDK stack and the local runtime set the same variables
(which function gets which: ``nudgeloop.resources.FunctionSpec.env``).

The **tunable** settings (``tunable(...)`` below) are declared here once, with their default,
constraints and meaning: an operator sets them as CDK context (``cdk.json`` or ``-c name=value``)
and locally as ``NUDGELOOP_<NAME>``; the synth, the local runtime and each function's cold start
validate them by this declaration (``tunable_values``). ``nudgeloop settings`` lists them.
Adding one: declare it here, name the functions that receive it in ``resources.py``, use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nudgeloop.domain import webhooks as outbound
from nudgeloop.domain.staircase import Staircase
from nudgeloop.domain.windows import SendWindow
from nudgeloop.layout import AUDIENCE_EXPORT_DAYS

ENV_PREFIX = "NL_"
LOCAL_PREFIX = "NUDGELOOP_"  # what sets a tunable setting for the local stack


def tunable(default: Any, description: str, **constraints: Any) -> Any:
    """A setting operators choose (deploy context, local environment), validated as declared."""
    return Field(default, description=description, json_schema_extra={"tunable": True}, **constraints)


# Marketing mail reaches people in their daytime unless the stack or a campaign says otherwise.
DAYTIME = '{"from_hour": 8, "to_hour": 21, "skip_holidays": false}'


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str = "nudgeloop"
    prefix: str = "nudgeloop"
    log_level: str = "INFO"
    customers_table: str = ""
    events_table: str = ""
    engine_table: str = ""
    recs_table: str = ""
    audit_table: str = ""
    bus_name: str = ""
    campaigns_bucket: str = ""
    templates_bucket: str = ""
    state_machine_arn: str = ""
    configuration_set: str = ""  # marketing mail
    service_configuration_set: str = ""  # service mail
    public_base_url: str = ""
    signing_secret_name: str = ""
    webhook_secret_name: str = ""
    data_bucket: str = ""
    audience_database: str = ""
    audience_workgroup: str = ""
    audience_export_function: str = ""  # invoked asynchronously for each export (services/audience_exports)
    broadcast_function: str = ""  # a broadcast started, a test send (services/broadcasts)
    broadcast_send_function: str = ""  # a batch of a broadcast's members sent
    erasure_function: str = ""  # an erasure's first pass (services/erasure)
    # how long an export's file (and its record) is kept: the stack's retention (specs.Retention)
    audience_export_days: int = AUDIENCE_EXPORT_DAYS
    max_future_skew_s: int = 3600
    rescan_segments: int = 8
    staircase: str = tunable("{}", "JSON: threshold overrides or a whole ladder of steps (docs/staircase.md)")
    sender: str = tunable("Nudgeloop <news@example.com>", "From address; its domain must be a verified SES identity")
    max_send_rate: int = tunable(
        14, "mails per second across all senders, at most your SES sending quota (0: no limit of our own)", ge=0
    )
    send_window: str = tunable(
        DAYTIME,
        "JSON: the global send window of marketing mails, as a campaign's send_window (docs/campaigns.md); "
        'by default 08:00-21:00 in the customer\'s time, every day; "" for any time',
    )
    frequency_cap: str = tunable(
        "3/7",
        "contact policy: at most N marketing mails per customer in D days, as N/D (service mails exempt; 0/7: off)",
        pattern=r"^[0-9]+/[1-9][0-9]*$",
    )
    attribution_days: int = tunable(
        7,
        "an order within N days after a campaign mail (its send or a click in it) converts for the last such mail; "
        "also the window after entry in which treated and holdout customers are compared",
        ge=1,
        le=90,
    )
    in_doubt_after_s: int = tunable(
        900, "seconds after which a reservation whose send never completed is reported in doubt (docs/operations.md)", ge=60
    )
    reputation_min_sends: int = tunable(
        200, "the circuit breaker judges the last 24 hours' bounce and complaint rates once this many mails went out", ge=1
    )
    audience_snapshot_at: str = tunable(
        "02:00",
        "UTC time of day (HH:MM) from which the daily audience snapshot runs (DynamoDB's exports, then Athena; "
        "docs/audiences.md)",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    )
    webhooks: str = tunable(
        "[]",
        'JSON: outbound webhook endpoints, [{"id": "loyalty", "url": "https://...", "events": ["loyalty.points_granted"]}] '
        "(signed, retried; docs/webhooks.md)",
    )

    @field_validator("staircase")
    @classmethod
    def _staircase(cls, value: str) -> str:
        Staircase.from_json(value)  # raises ValueError saying what is wrong
        return value

    @field_validator("send_window")
    @classmethod
    def _send_window(cls, value: str) -> str:
        if value:
            SendWindow.model_validate_json(value)
        return value

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, value: str) -> str:
        outbound.parse_endpoints(value)  # raises ValueError naming the endpoint and field
        return value

    def endpoints(self) -> tuple[outbound.Endpoint, ...]:
        """The outbound webhook endpoints the ``webhooks`` setting lists."""
        return outbound.parse_endpoints(self.webhooks)

    def stairs(self) -> Staircase:
        """The staircase the ``staircase`` setting describes (validated when the settings were read)."""
        return Staircase.from_json(self.staircase)

    def window(self) -> SendWindow | None:
        """The global send window of marketing mails, or None (the setting empty: any time)."""
        return SendWindow.model_validate_json(self.send_window) if self.send_window else None

    def frequency_cap_limit(self) -> tuple[int, int] | None:
        """(mails, days) of the contact policy, or None when it is off."""
        mails, _, days = self.frequency_cap.partition("/")
        return (int(mails), int(days)) if int(mails) > 0 else None

    def require(self, *fields: str) -> Settings:
        missing = [f for f in fields if not getattr(self, f)]
        if missing:
            names = ", ".join(ENV_PREFIX + f.upper() for f in missing)
            raise RuntimeError(f"missing configuration: {names}")
        return self


TUNABLES = tuple(
    name
    for name, field in Settings.model_fields.items()
    if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("tunable")
)


class InvalidSetting(ValueError):
    """A tunable setting its declaration refuses; the message names it."""


def tunable_values(given: Mapping[str, object]) -> dict[str, str]:
    """Every tunable setting as the functions' environment holds it: ``given`` (deploy context
    or local overrides; None: not given; JSON settings may be given as objects) over the
    declared defaults, validated by the declaration."""
    unknown = sorted(set(given) - set(TUNABLES))
    if unknown:
        raise InvalidSetting(f"not a tunable setting: {', '.join(unknown)} (nudgeloop settings lists them)")
    raw = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in given.items() if v is not None}
    try:
        checked = Settings(**raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        raise InvalidSetting(f"setting {name}: {error['msg']}") from None
    return {name: str(getattr(checked, name)) for name in TUNABLES}


def declared_defaults() -> dict[str, str]:
    """Every setting with a default, as the environment holds it: what the stack and the local
    runtime give a function unless a resource name or a tunable value replaces it."""
    return {name: str(field.default) for name, field in Settings.model_fields.items() if field.default not in ("", None)}


def describe_tunables() -> list[dict[str, str]]:
    """Name, default and meaning of each tunable setting (``nudgeloop settings``)."""
    rows = []
    for name in TUNABLES:
        field = Settings.model_fields[name]
        rows.append({"name": name, "default": str(field.default), "meaning": field.description or ""})
    return rows


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def from_environ(environ: Mapping[str, str]) -> Settings:
    """Settings from ``NL_*`` variables (raises ``ValidationError`` on bad values)."""
    return Settings(**{name: environ[env_name(name)] for name in Settings.model_fields if env_name(name) in environ})


@lru_cache(maxsize=1)
def settings() -> Settings:
    try:
        return from_environ(os.environ)
    except ValidationError as exc:  # pragma: no cover - misconfiguration is fatal at cold start
        raise RuntimeError(f"invalid configuration: {exc}") from exc


def reload() -> Settings:
    settings.cache_clear()
    return settings()
