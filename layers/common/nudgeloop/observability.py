"""Logger, tracer and metrics shared by every handler (Powertools).

Personal data stays out of logs: we log ids, counts and outcomes, never profiles. As a second
line of defence, the log formatter masks anything shaped like an email address, in messages,
extra keys and exception texts alike (an SES error, say, can quote the recipient).
"""

from __future__ import annotations

import os
import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "nudgeloop"
NAMESPACE = "Nudgeloop"
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}")
MASK = "<email>"


def redact(text: str) -> str:
    return EMAIL.sub(MASK, text)


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return redact(super().serialize(log))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
tracer = Tracer(service=SERVICE)
# Monitoring levels (the stack's context ``monitoring``, passed to every function in this
# variable). "minimal" publishes only the metrics its alarms watch: CloudWatch bills a custom
# metric for every hour it is published in (docs/costs.md); "full" publishes all of them, for the
# dashboard and the anomaly bands.
MONITORING_LEVELS = ("minimal", "full")
MONITORING_ENV = "NUDGELOOP_MONITORING"
ALARMED_METRICS = frozenset({"SendsInDoubt", "MarketingPaused"})


def published(name: str, level: str) -> bool:
    """Whether a custom metric is published at a monitoring level."""
    return level != "minimal" or name in ALARMED_METRICS


class LevelledMetrics(Metrics):
    """Powertools' metrics, publishing what the stack's monitoring level keeps."""

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        if published(name, os.environ.get(MONITORING_ENV, "full")):
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)


metrics = LevelledMetrics(namespace=NAMESPACE, service=SERVICE)
