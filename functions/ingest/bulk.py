"""SQS consumer of S3 notifications for ``imports/``: imports each CSV/JSON-lines file and
writes its report next to it (see ``nudgeloop.services.bulk``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters import aws
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import bulk

settings = boot()
processor = BatchProcessor(event_type=EventType.SQS)
current: dict[str, Any] = {}


def _continue_later(file: bulk.ImportFile) -> None:
    aws.client("sqs").send_message(QueueUrl=settings.imports_queue_url, MessageBody=bulk.continuation(file))
    logger.info("import continues in another run", extra={"file": file.key, "version": file.version})


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    context: LambdaContext = current["context"]
    for file in bulk.files_in(record.body):
        report = bulk.run(
            file,
            settings.max_future_skew_s,
            time_left_ms=context.get_remaining_time_in_millis,
            continue_later=_continue_later,
        )
        if report is not None:
            logger.info(
                "import finished",
                extra={k: report[k] for k in ("status", "rows", "accepted", "duplicates", "rejected")} | {"file": file.key},
            )
            metrics.add_metric(name="ImportRowsAccepted", unit="Count", value=report["accepted"])
            metrics.add_metric(name="ImportRowsRejected", unit="Count", value=report["rejected"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    current["context"] = context
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
