"""Journey send task: one personal mail through SES, at most once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.secrets import signing_key
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import sender

settings = boot(
    "customers_table",
    "engine_table",
    "recs_table",
    "templates_bucket",
    "configuration_set",
    "sender",
    "public_base_url",
    "signing_secret_name",
    "data_bucket",
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = sender.send_step(
        event,
        templates_bucket=settings.templates_bucket,
        configuration_set=settings.configuration_set,
        sender=settings.sender,
        public_base_url=settings.public_base_url,
        signing_key=signing_key(settings.signing_secret_name),
        archive_bucket=settings.data_bucket,
        max_send_rate=settings.max_send_rate,
        frequency_cap=settings.frequency_cap(),
    )
    metrics.add_metric(name=f"Mail_{result['status']}", unit="Count", value=1)
    return dict(result)
