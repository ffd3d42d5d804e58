"""Scheduled analytics: attribution of yesterday's orders, holdout comparison, daily export."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import analytics, campaign_store

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    campaigns = [entry.running.campaign.id for entry in campaign_store.entries(settings.campaigns_bucket) if entry.running]
    result = analytics.daily(settings.data_bucket, campaigns, settings.attribution_days)
    metrics.add_metric(name="OrdersAttributed", unit="Count", value=result["converted"])
    metrics.add_metric(name="EntriesCompared", unit="Count", value=result["entries_compared"])
    return result
