"""Sending one journey step's mail: consent, ledger reservation, render, SES, completion."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import repo
from nudgeloop.domain import consent, mail, tokens
from nudgeloop.domain.aggregates import aggregate, recent_skus
from nudgeloop.services import recommend

# SES errors that retrying cannot fix: record and stop this step.
PERMANENT = frozenset(
    {
        "MessageRejected",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "BadRequestException",
    }
)
THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"})


class SendThrottled(RuntimeError):
    """SES asked us to slow down; nothing was sent and the reservation was released."""


_template_cache: dict[str, tuple[float, str | None]] = {}
TEMPLATE_TTL_S = 60.0


def _fetch_template(bucket: str) -> Any:
    def fetch(name: str) -> str | None:
        key = f"templates/{name}"
        hit = _template_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < TEMPLATE_TTL_S:
            return hit[1]
        try:
            body: str | None = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            body = None
        _template_cache[key] = (time.monotonic(), body)
        return body

    return fetch


def unsubscribe_url(base_url: str, key: bytes, customer_id: str, purpose: str) -> str:
    token = tokens.sign(key, {"k": "unsub", "c": customer_id, "p": purpose})
    return f"{base_url.rstrip('/')}/v1/unsubscribe?token={quote(token)}"


def send_step(
    request: dict[str, Any],
    *,
    templates_bucket: str,
    configuration_set: str,
    sender: str,
    public_base_url: str,
    signing_key: bytes,
) -> dict[str, Any]:
    """Send at most once per (customer, campaign, step, journey).

    The ledger entry is reserved conditionally before SES is called and completed after. A
    reservation that already exists means sent or in doubt: we never send again.
    """
    customer_id = request["customer_id"]
    campaign_id, step_id = request["campaign_id"], request["step_id"]
    ledger_key = f"{campaign_id}#{step_id}#{request['execution']}"
    customer = repo.get_customer(customer_id)
    if customer is None or not customer.email:
        return {"status": "skipped", "reason": "no_address"}
    purpose = request.get("consent_purpose", "newsletter")
    if not consent.allows(dict(customer.consents or {}), purpose):
        return {"status": "skipped", "reason": "no_consent"}
    meta = {"customer_id": customer_id, "campaign_id": campaign_id, "step_id": step_id}
    reservation = repo.reserve_send(customer_id, ledger_key, {**meta, "template": request["template"]})
    if reservation is None:
        held = repo.ledger_entry(customer_id, ledger_key)
        return {"status": "duplicate", "ledger": held.status if held else "unknown"}
    now = clock.now()
    unsub = unsubscribe_url(public_base_url, signing_key, customer_id, purpose)
    orders = repo.order_facts(customer_id)
    context = {
        "customer": {
            "id": customer_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "segment": customer.segment,
            "orders": aggregate(orders).orders,
        },
        "salutation": mail.salutation(customer.first_name, customer.locale),
        "campaign_id": campaign_id,
        "step_id": step_id,
        "unsubscribe_url": unsub,
        "recommendations": recommend.for_customer(customer, recent_skus(orders)),
    }
    subject, html, text = mail.render(_fetch_template(templates_bucket), request["template"], context)
    message = mail.build_message(
        sender=sender,
        recipient=customer.email,
        subject=subject,
        html=html,
        text=text,
        sent_at=now,
        unsubscribe_url=unsub,
    )
    try:
        response = client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [customer.email]},
            Content={"Raw": {"Data": message.as_bytes()}},
            ConfigurationSetName=configuration_set,
            EmailTags=[{"Name": "campaign", "Value": campaign_id}, {"Name": "step", "Value": step_id}],
        )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in THROTTLED:
            reservation.delete()
            raise SendThrottled(code) from exc
        if code in PERMANENT:
            repo.complete_send(reservation, "failed", {"reason": code}, None)
            return {"status": "failed", "reason": code}
        raise  # unknown outcome: the reservation stays, so a retry reports it in doubt
    message_id = response["MessageId"]
    repo.complete_send(reservation, "sent", {**meta, "message_id": message_id, "sent_at": clock.iso(now)}, message_id)
    return {"status": "sent", "message_id": message_id}
