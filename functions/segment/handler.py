"""Scheduled run (EventBridge schedule): re-places customers whose step or date occasion is due.

When the staircase or the watched date occasions changed, the scheduled invocation re-places
everyone: it invokes itself asynchronously for the scan parts 1..n-1 of a parallel scan
(``{"part": i, "parts": n, "full": true, "previous_run": ...}``) and scans part 0.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.aws import client
from nudgeloop.adapters.bus import EventBridgePublisher
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import campaign_store, daily
from nudgeloop.services.segmenting import Rules

settings = boot()
stairs = settings.stairs()
publisher = EventBridgePublisher(settings.bus_name)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    campaigns = campaign_store.active(settings.campaigns_bucket)  # one List of the bucket per run
    rules = Rules(stairs, campaign_store.date_rules(campaigns))

    def fan_out(payload: dict[str, Any]) -> None:
        client("lambda").invoke(FunctionName=context.invoked_function_arn, InvocationType="Event", Payload=json.dumps(payload))

    result = daily.run(
        publisher,
        rules,
        part=int(event.get("part", 0)),
        parts=int(event.get("parts", 1)),
        full=bool(event.get("full", False)),
        previous_run=event.get("previous_run"),
        fan_out=fan_out,
        rescan_segments=settings.rescan_segments,
        schedules=campaign_store.schedules(campaigns),
    )
    metrics.add_metric(name="CustomersReviewed", unit="Count", value=result.examined)
    metrics.add_metric(name="Migrations", unit="Count", value=result.migrated)
    metrics.add_metric(name="DateOccasions", unit="Count", value=result.occasions)
    metrics.add_metric(name="ScheduledSends", unit="Count", value=result.scheduled)
    summary = {
        "examined": result.examined,
        "migrated": result.migrated,
        "occasions": result.occasions,
        "full_scan": result.full_scan,
    }
    logger.info("daily run done", extra=summary)
    return summary
