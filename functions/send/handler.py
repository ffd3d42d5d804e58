"""Journey send task: one personal mail through SES, at most once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.secrets import signing_key
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import sender

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = sender.send_configured(event, settings, signing_key(settings.signing_secret_name))
    metrics.add_metric(name=f"Mail_{result['status']}", unit="Count", value=1)
    return dict(result)
