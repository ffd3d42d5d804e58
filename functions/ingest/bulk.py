"""S3 notifications for ``imports/`` (asynchronous invocation): imports each CSV/JSON-lines file
and writes its report next to it (see ``nudgeloop.services.bulk``). A file longer than one run
continues in another: the function invokes itself with a continuation. An invocation that
fails is retried by Lambda (twice), then kept in ``nudgeloop-failures`` with its event; a file
already imported is not imported again when it comes back."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters import aws
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import bulk

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def continue_later(file: bulk.ImportFile) -> None:
        aws.client("lambda").invoke(
            FunctionName=context.invoked_function_arn, InvocationType="Event", Payload=json.dumps(bulk.continuation(file))
        )
        logger.info("import continues in another run", extra={"file": file.key, "version": file.version})

    reports = []
    for file in bulk.files_in(event):
        report = bulk.run(
            file,
            settings.max_future_skew_s,
            time_left_ms=context.get_remaining_time_in_millis,
            continue_later=continue_later,
        )
        if report is not None:
            logger.info(
                "import finished",
                extra={k: report[k] for k in ("status", "rows", "accepted", "duplicates", "rejected")} | {"file": file.key},
            )
            metrics.add_metric(name="ImportRowsAccepted", unit="Count", value=report["accepted"])
            metrics.add_metric(name="ImportRowsRejected", unit="Count", value=report["rejected"])
            reports.append({"file": file.key, "status": report["status"]})
    return {"imported": reports}
