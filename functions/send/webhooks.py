"""Outbound webhooks. From the bus (asynchronous invocation, one ``OutboundEvent`` each): the
event recorded for each subscribed endpoint and POSTed, signed. On the sweep's schedule: the
deliveries whose next attempt has come, tried again. A failed invocation is retried by Lambda
(twice), then kept in ``nudgeloop-failures``; a delivery is recorded once per endpoint and event,
so a retry sends nothing the receiver took."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop import clock
from nudgeloop.adapters import http
from nudgeloop.adapters.secrets import signing_key
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import webhooks

settings = boot()
endpoints = settings.endpoints()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = clock.now()
    if event.get("detail-type") == "Scheduled Event":
        counts = webhooks.retry_due(endpoints, signing_key(settings.signing_secret_name), now, http.post)
    else:
        taken = webhooks.accept(event["detail"], endpoints, signing_key(settings.signing_secret_name), now, http.post)
        counts = {"taken": taken}
    for name, value in counts.items():
        if value:
            metrics.add_metric(name="WebhooksTaken" if name == "taken" else "WebhooksNotTaken", unit="Count", value=value)
    return counts
