"""Customers-table stream consumer: tallies customers per step and the day's flows between
steps from every change record (INSERT, MODIFY, REMOVE), one item per batch. A batch fails or
succeeds whole; failed batches are retried from their first record and then go to the counts DLQ."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.domain.step_counts import StepChange
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import step_counts

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes = [
        StepChange.from_images(
            record_id=str(record.event_id),
            sequence=str(record.dynamodb.sequence_number),
            old=record.dynamodb.old_image if name != "INSERT" else None,
            new=record.dynamodb.new_image if name != "REMOVE" else None,
        )
        for record in DynamoDBStreamEvent(event).records
        if record.dynamodb is not None
        for name in [record.raw_event["eventName"]]
    ]
    counted = step_counts.record(changes)
    metrics.add_metric(name="StepChangesCounted", unit="Count", value=counted)
    return {"batchItemFailures": []}
