"""Events-table stream consumer: archives every stored event to S3 (JSON lines, dt= partitions).

A failed batch is retried by the event source mapping (the object keys are deterministic, so a
retry overwrites) and ends in the archive DLQ when the retries are spent."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import archive

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    lines = [
        archive.Line(
            sequence=str(record.dynamodb.sequence_number),
            item=dict(record.dynamodb.new_image),
        )
        for record in DynamoDBStreamEvent(event).records
        if record.dynamodb is not None and record.dynamodb.new_image is not None
    ]
    written = archive.write(settings.data_bucket, lines) if lines else 0
    metrics.add_metric(name="EventsArchived", unit="Count", value=len(lines))
    return {"archived": len(lines), "objects": written}
