"""SQS consumer: applies accepted events (partial batch failures; poison messages reach the DLQ)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.bus import EventBridgePublisher
from nudgeloop.domain.events import Event
from nudgeloop.domain.staircase import Staircase
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import process

settings = boot("customers_table", "events_table", "orders_table", "bus_name")
stairs = Staircase.from_json(settings.staircase)
publisher = EventBridgePublisher(settings.bus_name)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    event = Event.from_message(record.body)
    fresh = process.apply(event, publisher, stairs)
    metrics.add_metric(name="EventsStored" if fresh else "EventsReplayed", unit="Count", value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
