"""Scheduled re-segmentation (EventBridge schedule): only customers whose step is due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop.adapters.bus import EventBridgePublisher
from nudgeloop.domain.staircase import Staircase
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import daily

settings = boot("customers_table", "orders_table", "bus_name")
stairs = Staircase.from_json(settings.staircase)
publisher = EventBridgePublisher(settings.bus_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = daily.run(publisher, stairs)
    metrics.add_metric(name="CustomersReviewed", unit="Count", value=result.examined)
    metrics.add_metric(name="Migrations", unit="Count", value=result.migrated)
    logger.info("daily re-segmentation done", extra={"examined": result.examined, "migrated": result.migrated})
    return {"examined": result.examined, "migrated": result.migrated}
