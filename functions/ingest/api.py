"""HTTP API (API Gateway REST, proxy integration): events in, customers out, unsubscribe."""

from __future__ import annotations

import base64
import re
from datetime import date, timedelta
from typing import Any

from access_routes import actor, scope_check
from access_routes import router as access_router  # the function's own modules: on Lambda's path with it
from answers import error as _error
from answers import page
from audience_routes import router as audience_router
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rights_routes import router as rights_router
from tracking_routes import router as tracking_router

from nudgeloop import clock
from nudgeloop.adapters.secrets import parameter_bytes, signing_key
from nudgeloop.dal import audit
from nudgeloop.domain import tokens
from nudgeloop.domain.access import ADMIN
from nudgeloop.domain.events import MAX_BODY_BYTES, Event
from nudgeloop.domain.reputation import Thresholds
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.openapi import document
from nudgeloop.resources import catalog
from nudgeloop.runtime import boot
from nudgeloop.services import (
    analytics,
    campaign_mails,
    customers,
    ingest,
    preferences,
    reputation,
    shopify,
    vouchers,
)

settings = boot()
app = APIGatewayRestResolver()
app.use(middlewares=[scope_check(catalog(settings.prefix).routes)])
app.include_router(access_router)
app.include_router(audience_router)
app.include_router(rights_router)
app.include_router(tracking_router)
CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
OPENAPI = document()


@app.exception_handler(ingest.BadRequest)
def _bad_request(exc: ingest.BadRequest) -> Response[Any]:
    return _error(exc.status, exc.field, exc.reason)


# AWS answers that mean "later", not "never": the caller may retry the same request.
TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def _aws_code(exc: BaseException) -> str | None:
    """The AWS error code behind ``exc``: botocore's, or the one PynamoDB's exceptions carry."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return getattr(exc, "cause_response_code", None)


@app.exception_handler(Exception)
def _failed(exc: Exception) -> Response[Any]:
    """Throttling is a 503 the caller retries (storing is idempotent). Anything else is a defect
    of ours: it is logged and raised, so that Lambda counts it in the function's Errors metric
    (and its alarm fires) and API Gateway answers 502; never a quiet 503."""
    if _aws_code(exc) in TRANSIENT:
        logger.warning("request throttled", extra={"code": _aws_code(exc)})
        metrics.add_metric(name="ApiThrottled", unit="Count", value=1)
        return Response(
            status_code=503,
            content_type=content_types.APPLICATION_JSON,
            body={"error": {"field": None, "reason": "temporarily unavailable; retrying the same request is safe"}},
            headers={"Retry-After": "5"},
        )
    logger.exception("request failed")
    raise exc


@app.post("/v1/events")
@tracer.capture_method
def post_events() -> Response[Any]:
    raw = ingest.parse_batch(app.current_event.body)
    result = ingest.accept_batch(raw, settings.max_future_skew_s)
    _audit_consents(result.accepted)
    metrics.add_metric(name="EventsAccepted", unit="Count", value=len(result.accepted))
    metrics.add_metric(name="EventsRejected", unit="Count", value=len(result.rejected))
    metrics.add_metric(name="EventsDuplicate", unit="Count", value=len(result.duplicates))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result.summary())


def _audit_consents(accepted: list[Event]) -> None:
    """A consent statement made with an admin key overrides what the person said through the
    shop: who made it is kept (a shop's own statements, with ingest keys, are proven by the
    events table itself: source, time, event id)."""
    if app.context.get("key_scope") != ADMIN:  # as the scope check read it (access_routes)
        return
    for event in accepted:
        if event.type == "consent.changed":
            props = event.properties or {}
            details = {"event_id": event.event_id, "purpose": props.get("purpose"), "status": props.get("status")}
            audit.record("customer", event.customer_id, "consent", actor(app), details, customer_id=event.customer_id)


@app.get("/v1/customers/<customer_id>")
@tracer.capture_method
def get_customer(customer_id: str) -> Response[Any]:
    found = customers.view(customer_id)
    if found is None:
        return _error(404, "customer_id", "no such customer")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


@app.get("/v1/customers/<customer_id>/events")
@tracer.capture_method
def get_customer_events(customer_id: str) -> Response[Any]:
    query = app.current_event.get_query_string_value
    return page(query, lambda limit, cursor: customers.history(customer_id, limit, cursor))


@app.put("/v1/customers/<customer_id>")
@tracer.capture_method
def put_customer(customer_id: str) -> Response[Any]:
    """Profile changes as a `customer.upserted` event now (same validation, same path)."""
    raw = ingest.parse_object(app.current_event.body)
    event = {"type": "customer.upserted", "customer_id": customer_id, "occurred_at": clock.iso(clock.now()), "properties": raw}
    result = ingest.accept_batch([event], settings.max_future_skew_s)
    if result.rejected:
        rejection = result.rejected[0]
        return _error(400, rejection.field.replace("events[0].properties.", "").replace("events[0].", ""), rejection.reason)
    _audit_consents(result.accepted)
    accepted = result.accepted or result.duplicates
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body={"event_id": accepted[0].event_id})


@app.get("/v1/campaigns/<campaign_id>/mails")
@tracer.capture_method
def get_campaign_mails(campaign_id: str) -> Response[Any]:
    query = app.current_event.get_query_string_value
    return page(query, lambda limit, cursor: campaign_mails.page(campaign_id, limit, cursor, settings.data_bucket))


@app.get("/v1/vouchers/<code>")
@tracer.capture_method
def get_voucher(code: str) -> Response[Any]:
    found = vouchers.get(code) if vouchers.well_formed(code) else None
    if found is None:
        return _error(404, "code", "no such voucher")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=vouchers.view(found))


@app.post("/v1/vouchers/<code>/redeem")
@tracer.capture_method
def redeem_voucher(code: str) -> Response[Any]:
    raw = ingest.parse_object(app.current_event.body)
    order_id = raw.get("order_id")
    if set(raw) - {"order_id"}:
        return _error(400, sorted(set(raw) - {"order_id"})[0], "unknown field")
    if not isinstance(order_id, str) or not 1 <= len(order_id) <= 128:
        return _error(400, "order_id", "the order's id (1 to 128 characters)")
    if not vouchers.well_formed(code):
        return _error(404, "code", "no such voucher")
    done = vouchers.redeem(code, order_id)
    if done.voucher is None:
        return _error(404, "code", "no such voucher")
    if done.outcome in ("taken", "expired"):
        reason = "redeemed already by another order" if done.outcome == "taken" else "expired"
        return _error(409, "code", reason)
    if done.outcome == "redeemed":
        metrics.add_metric(name="VouchersRedeemed", unit="Count", value=1)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=vouchers.view(done.voucher))


@app.post("/v1/voucher-pools/<pool>/codes")
@tracer.capture_method
def upload_voucher_codes(pool: str) -> Response[Any]:
    done = vouchers.upload_pool(pool, ingest.parse_object(app.current_event.body))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=done)


@app.get("/v1/voucher-pools/<pool>")
@tracer.capture_method
def voucher_pool(pool: str) -> Response[Any]:
    found = vouchers.pool_status(pool)
    if found is None:
        return _error(404, "pool", "no such pool")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


@app.get("/v1/analytics/campaigns")
@tracer.capture_method
def campaigns_analytics() -> Response[Any]:
    rows = analytics.campaigns(settings.campaigns_bucket)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body={"campaigns": rows})


@app.get("/v1/analytics/campaigns/<campaign_id>")
@tracer.capture_method
def campaign_analytics(campaign_id: str) -> Response[Any]:
    if not CAMPAIGN_ID.match(campaign_id):
        return _error(400, "campaign_id", "a campaign id: lower-case letters, digits and hyphens, at most 40")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=analytics.campaign(campaign_id))


@app.get("/v1/analytics/staircase")
@tracer.capture_method
def staircase_analytics() -> Response[Any]:
    today = clock.now().date()
    bounds = {}
    for name, default in (("from", today - timedelta(days=30)), ("to", today)):
        raw = app.current_event.get_query_string_value(name)
        try:
            bounds[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            return _error(400, name, "a date, YYYY-MM-DD")
    try:
        body = analytics.staircase(bounds["from"], bounds["to"])
    except ValueError as exc:
        return _error(400, "to", str(exc))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/v1/analytics/deliverability")
@tracer.capture_method
def deliverability() -> Response[Any]:
    body = reputation.figures(Thresholds(min_sends=settings.reputation_min_sends))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/v1/webhooks/shopify")
@tracer.capture_method
def shopify_order() -> Response[Any]:
    """Shopify ``orders/create``: signature first, then the same validation and store-once path."""
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "body", f"request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        secret = parameter_bytes(settings.webhook_secret_name)
        if secret is None:  # the operator has not set it yet (docs/operations.md, "Shopify")
            raise shopify.BadSignature("the shop's webhook secret is not configured")
        shopify.verify(secret, body, event.headers.get("X-Shopify-Hmac-Sha256"))
    except shopify.BadSignature as exc:
        metrics.add_metric(name="WebhookSignatureRejected", unit="Count", value=1)
        return _error(401, "X-Shopify-Hmac-Sha256", str(exc))
    topic = event.headers.get("X-Shopify-Topic")
    if topic != shopify.TOPIC:
        return _error(400, "X-Shopify-Topic", f"only {shopify.TOPIC} is supported, not {topic!r}")
    raw_events = shopify.to_events(shopify.parse(body))
    result = ingest.accept_batch(raw_events, settings.max_future_skew_s, all_or_nothing=True)
    if result.rejected:
        rejection = result.rejected[0]
        return _error(400, rejection.field.split(".", 1)[-1], rejection.reason)
    metrics.add_metric(name="WebhookOrders", unit="Count", value=1)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=result.summary())


@app.get("/v1/openapi.json")
def openapi_document() -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=OPENAPI)


def _claims(kind: str) -> dict[str, Any] | Response[Any]:
    token = app.current_event.get_query_string_value("token")
    if not token:
        return _error(400, "token", "token is required")
    try:
        return preferences.claims_of(signing_key(settings.signing_secret_name), token, kind)
    except tokens.BadToken as exc:
        return _error(403, "token", f"token is invalid: {exc}")


def _html(status: int, body: str) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.TEXT_HTML, body=body)


@app.get("/v1/unsubscribe")
def unsubscribe_page() -> Response[Any]:
    """The preference page behind the unsubscribe link (GET never changes anything: mail
    scanners open links)."""
    claims = _claims("unsub")
    if isinstance(claims, Response):
        return claims
    return _html(200, preferences.preference_page(claims, app.current_event.get_query_string_value("token") or ""))


@app.post("/v1/unsubscribe")
def unsubscribe() -> Response[Any]:
    """RFC 8058 one-click: no cookies, no login; opts out at once through the normal event path
    (``all=1`` from the preference page: every marketing purpose)."""
    claims = _claims("unsub")
    if isinstance(claims, Response):
        return claims
    everything = app.current_event.get_query_string_value("all") == "1"
    purposes = preferences.opt_out(claims, app.current_event.get_query_string_value("token") or "", everything)
    if purposes:
        metrics.add_metric(name="Unsubscribes", unit="Count", value=1)
    # 200 either way (RFC 8058 clients only look at the status); nothing opted out when the
    # person subscribed again after the link was sent
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body={"unsubscribed": bool(purposes), "purpose": claims["p"], "purposes": purposes},
    )


@app.get("/v1/consent/confirm")
def confirm_consent() -> Response[Any]:
    """Double opt-in: the link in the confirmation mail turns a pending sign-up into opt_in."""
    claims = _claims("confirm")
    if isinstance(claims, Response):
        return claims
    outcome = preferences.confirm(claims, app.current_event.get_query_string_value("token") or "")
    metrics.add_metric(name="ConsentConfirmations", unit="Count", value=1)
    if outcome == "confirmed":
        return _html(200, preferences.page("Subscription confirmed", "Thank you: you will now receive our mails."))
    return _html(409, preferences.page("Link no longer valid", "This request was replaced by a newer choice."))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
