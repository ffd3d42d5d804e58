"""``ConsentConfirmationRequested`` from the bus (asynchronous invocation, one event each): sends
the double opt-in confirmation mail through the normal send path (ledger: once per sign-up;
suppression; archive). A failed invocation is retried by Lambda (twice), then kept in
``nudgeloop-failures``; the ledger makes a retry send nothing twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
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
    key = signing_key(settings.signing_secret_name)
    request = sender.confirmation_request(EventBridgeEvent(event).detail, settings.public_base_url, key)
    result = sender.send_configured(request, settings, key)  # a service mail: never capped or held
    metrics.add_metric(name=f"Confirmation_{result['status']}", unit="Count", value=1)
    return {"status": result["status"]}
