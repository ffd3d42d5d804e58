"""Lambda tasks of the journey state machine: plan (interpreter), park (timer), wake (sweep)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import journey

settings = boot()
# the stack's global send window (JSON), for campaigns without their own
WINDOW = settings.window()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return journey.plan(event, settings.campaigns_bucket, WINDOW, settings.attribution_days)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def park_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return journey.park(event)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def wake_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    woken = journey.wake()
    # Published only when not zero: a custom metric is billed for every hour it is published in,
    # and this sweep runs all the time (a period without data leaves the alarms not breaching).
    if woken:
        metrics.add_metric(name="JourneysWoken", unit="Count", value=woken)
    # Reservations SES may or may not have sent: never retried, reported (the alarm) until settled.
    doubtful = journey.sends_in_doubt()
    if doubtful:
        metrics.add_metric(name="SendsInDoubt", unit="Count", value=doubtful)
    return {"woken": woken, "sends_in_doubt": doubtful}
