"""Scheduled CLV fit (weekly): BG/NBD + Gamma-Gamma on the order log, values per customer.

Input (all optional): ``{"until": "2026-06-30", "unit": "days" | "weeks", "store": true}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop import clock
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import clv

settings = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    until = clock.parse_iso(event["until"] + "T00:00:00Z").date() if event.get("until") else clock.today()
    try:
        params = clv.fit(until, str(event.get("unit", "days")), bool(event.get("store", True)))
    except clv.NotEnoughData as exc:
        if event.get("source") != "aws.events":
            raise  # asked for directly: say why there is no model
        logger.info("CLV not fitted yet", extra={"reason": str(exc)})  # a young shop: nothing to alarm about
        return {"fitted": False, "reason": str(exc)}
    metrics.add_metric(name="ClvCustomers", unit="Count", value=params["customers"])
    logger.info("CLV fitted", extra={"customers": params["customers"]})
    return params
