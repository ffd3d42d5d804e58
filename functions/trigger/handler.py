"""SQS consumer of bus events (SegmentMigrated, ...): starts journeys idempotently."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import campaign_store, trigger

settings = boot()
processor = BatchProcessor(event_type=EventType.SQS)
batch: dict[str, list[campaign_store.Pinned]] = {"campaigns": []}


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    envelope = json.loads(record.body)
    for started in trigger.handle_bus_event(envelope, batch["campaigns"], settings.state_machine_arn):
        metrics.add_metric(name="JourneysStarted" if started.started else "JourneysDeduplicated", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The enabled campaigns, listed once per batch (one S3 List; bodies are cached by ETag). A
    # failure here fails the batch, which SQS redelivers: no event is lost.
    batch["campaigns"] = campaign_store.active(settings.campaigns_bucket)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
