"""SQS consumer for SES events routed from EventBridge: delivery, open, click, bounce, complaint."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.domain.reputation import Thresholds
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import feedback, reputation

settings = boot()
THRESHOLDS = Thresholds(min_sends=settings.reputation_min_sends)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    envelope = json.loads(record.body)
    outcome = feedback.handle_ses_event(envelope.get("detail", {}))
    metrics.add_metric(name=f"Feedback_{outcome}", unit="Count", value=1)
    if outcome in ("bounced", "complained") and reputation.check(THRESHOLDS, settings.configuration_set):
        metrics.add_metric(name="MarketingPaused", unit="Count", value=1)  # the alarm


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
