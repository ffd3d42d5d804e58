"""SQS consumer of ``ConsentConfirmationRequested``: sends the double opt-in confirmation mail
through the normal send path (ledger: once per sign-up; suppression; archive)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.secrets import signing_key
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import sender

settings = boot()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    key = signing_key(settings.signing_secret_name)
    request = sender.confirmation_request(json.loads(record.body)["detail"], settings.public_base_url, key)
    result = sender.send_configured(request, settings, key)  # a service mail: never capped or held
    metrics.add_metric(name=f"Confirmation_{result['status']}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
