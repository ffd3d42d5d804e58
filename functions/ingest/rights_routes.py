"""A person's data rights on the HTTP API (docs/privacy.md): everything held about them
(``services/personal_data``, GDPR access and portability) and their erasure
(``services/erasure``, GDPR Art. 17); admin keys only, each recorded in the audit trail."""

from __future__ import annotations

from typing import Any

from access_routes import actor  # the function's own modules: on Lambda's path with it
from answers import error as _error
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from nudgeloop.config import settings
from nudgeloop.dal import audit
from nudgeloop.observability import logger, tracer
from nudgeloop.services import erasure, personal_data

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # its __init__ is unannotated


@router.get("/v1/customers/<customer_id>/export")
@tracer.capture_method
def get_customer_export(customer_id: str) -> Response[Any]:
    """Everything held about one person, as one document (services/personal_data)."""
    s = settings()
    found = personal_data.export(customer_id, s.data_bucket, s.campaigns_bucket)
    if found is None:
        return _error(404, "customer_id", "nothing is held about this customer")
    audit.record("customer", customer_id, "exported", actor(router), customer_id=customer_id)
    logger.info("personal data exported", extra={"customer_id": customer_id})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


@router.delete("/v1/customers/<customer_id>")
@tracer.capture_method
def erase_customer(customer_id: str) -> Response[Any]:
    """Erase the person (services/erasure): 202 while under way, 200 for one finished before."""
    found, started = erasure.request(customer_id, actor(router))
    if found is None:
        return _error(404, "customer_id", "nothing is held about this customer")
    if started:
        logger.info("erasure requested", extra={"erasure_id": found["erasure_id"]})  # the digest, never the id
    code = 202 if found["status"] in ("running", "awaiting_snapshot") else 200
    return Response(status_code=code, content_type=content_types.APPLICATION_JSON, body=found)


@router.get("/v1/erasures/<erasure_id>")
@tracer.capture_method
def get_erasure(erasure_id: str) -> Response[Any]:
    found = erasure.status(erasure_id)
    if found is None:
        return _error(404, "erasure_id", "no such erasure")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)
