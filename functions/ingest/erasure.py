"""The erasure function (``services/erasure``): a person's first pass, invoked asynchronously by
``DELETE /v1/customers/{id}``; continued in a new invocation of itself when the archive days to
rewrite take longer than one. A failed pass is retried by Lambda twice, then its invocation waits
in the failures queue and the erasure reports ``failed`` (asking again goes on from where it
stopped)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import audience_exports, erasure

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    customer_id, erasure_id = str(event["customer_id"]), str(event["erasure_id"])
    outcome = erasure.run(customer_id, erasure_id, audience_exports.remaining(context.get_remaining_time_in_millis()))
    if outcome == "running":
        erasure.invoke({"customer_id": customer_id, "erasure_id": erasure_id}, context.invoked_function_arn)
    elif outcome == "awaiting_snapshot":
        metrics.add_metric(name="ErasuresFirstPassDone", unit="Count", value=1)
    return {"erasure_id": erasure_id, "status": outcome}  # never the id: the result is logged
