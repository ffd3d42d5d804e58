"""Broadcasts (``services/broadcasts``). ``handler``: invoked by ``POST /v1/broadcasts`` (a
broadcast to start, or a test send, answered synchronously) and on the sweep's schedule (every
active broadcast one step further). ``batch_handler``: one batch of members sent."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop import clock
from nudgeloop.adapters.secrets import signing_key
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import audience_exports, broadcasts

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "test" in event:
        return broadcasts.test_send(event["test"], settings)
    deadline = audience_exports.remaining(context.get_remaining_time_in_millis())
    if "broadcast_id" in event:
        return {"status": broadcasts.advance(str(event["broadcast_id"]), deadline, clock.now())}
    return {"broadcasts": broadcasts.sweep(deadline, clock.now())}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def batch_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    signing = signing_key(settings.signing_secret_name)
    outcomes = broadcasts.send_batch(str(event["broadcast_id"]), int(event["batch"]), settings, signing)
    for status, n in outcomes.items():
        metrics.add_metric(name=f"Broadcast_{status}", unit="Count", value=n)
    return outcomes
