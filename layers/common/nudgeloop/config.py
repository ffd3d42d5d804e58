"""Runtime settings, read from environment variables once per cold start and validated.

Every field maps to ``NL_<FIELD>``; the CDK stack and the local runtime set the same variables
(see ``nudgeloop.resources.FunctionSpec.env``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, ValidationError

ENV_PREFIX = "NL_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str = "nudgeloop"
    prefix: str = "nudgeloop"
    log_level: str = "INFO"
    customers_table: str = ""
    events_table: str = ""
    engine_table: str = ""
    recs_table: str = ""
    bus_name: str = ""
    campaigns_bucket: str = ""
    templates_bucket: str = ""
    state_machine_arn: str = ""
    configuration_set: str = ""  # marketing mail
    service_configuration_set: str = ""  # service mail
    sender: str = ""
    public_base_url: str = ""
    signing_secret_name: str = ""
    webhook_secret_name: str = ""
    data_bucket: str = ""
    imports_queue_url: str = ""
    staircase: str = ""  # JSON overrides of the default staircase thresholds
    max_future_skew_s: int = 3600
    rescan_segments: int = 8
    max_send_rate: int = 0  # mails per second across all senders; 0: no limit of our own
    # contact policy: at most this many marketing mails per customer in the last N days (0: off)
    send_window: str = ""  # JSON of a SendWindow: the global window of marketing mails ("" none)
    frequency_cap_mails: int = 3
    frequency_cap_days: int = 7
    # an order within this many days after a campaign mail (its send or a click in it) converts
    # for the last such mail; also the window the holdout comparison looks at after entry
    attribution_days: int = 7
    # the reputation circuit breaker judges the last 24 hours once this many mails went out
    reputation_min_sends: int = 200

    def frequency_cap(self) -> tuple[int, int] | None:
        return (self.frequency_cap_mails, self.frequency_cap_days) if self.frequency_cap_mails > 0 else None

    def require(self, *fields: str) -> Settings:
        missing = [f for f in fields if not getattr(self, f)]
        if missing:
            names = ", ".join(ENV_PREFIX + f.upper() for f in missing)
            raise RuntimeError(f"missing configuration: {names}")
        return self


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
