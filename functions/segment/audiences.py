"""The audience jobs. The snapshot (``services/audience_snapshot``): on its sweep's schedule, starts the
day's run when it is due and takes a run under way as far as it goes (DynamoDB's exports take
minutes; Athena's queries are awaited within the invocation). A failed sweep is not retried:
the next one goes on from the state the last one saved. An export (``services/audience_exports``) is
invoked once for each request and writes its file."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import audience_exports, audience_snapshot

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def snapshot_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state, built = audience_snapshot.sweep(context.get_remaining_time_in_millis())
    pending = state.get("pending")
    if built:
        metrics.add_metric(name="AudienceSnapshotsBuilt", unit="Count", value=1)
    return {"current": state.get("current"), "pending": pending and {k: pending[k] for k in ("run", "phase", "step")}}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def export_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An audience export (``services/audience_exports``), invoked asynchronously by the request;
    continued in a new invocation of itself while Athena's query runs past this one's time."""
    audience_id, export_id = str(event["audience_id"]), str(event["export_id"])
    outcome = audience_exports.run(audience_id, export_id, audience_exports.remaining(context.get_remaining_time_in_millis()))
    if outcome == "running":
        audience_exports.invoke(context.invoked_function_arn, {"audience_id": audience_id, "export_id": export_id})
    elif outcome == "succeeded":
        metrics.add_metric(name="AudienceExportsWritten", unit="Count", value=1)
    return {"audience_id": audience_id, "export_id": export_id, "status": outcome}
