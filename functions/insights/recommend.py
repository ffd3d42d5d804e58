"""Scheduled aggregation of recommendations (co-purchases, catalogue relations, curated lists)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import recommend

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = recommend.aggregate(settings.campaigns_bucket)
    metrics.add_metric(name="RecommendationItemsWritten", unit="Count", value=result.written)
    summary = {"products": result.products, "written": result.written, "deleted": result.deleted}
    logger.info("recommendations aggregated", extra=summary)
    return summary
