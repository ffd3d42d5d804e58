"""Logger, tracer and metrics shared by every handler (Powertools).

Personal data stays out of logs: we log ids, counts and outcomes, never profiles. As a second
line of defence, the log formatter masks anything shaped like an email address, in messages,
extra keys and exception texts alike (an SES error, say, can quote the recipient).
"""

from __future__ import annotations

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
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
