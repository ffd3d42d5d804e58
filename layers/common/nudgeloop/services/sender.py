"""Sending one journey step's mail: consent, suppression, ledger reservation, render, SES,
archive, completion."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from jinja2 import TemplateError

from nudgeloop import clock, warm
from nudgeloop.adapters.aws import client
from nudgeloop.config import Settings
from nudgeloop.dal import customer_store, deliverability, event_log, insights, ledger
from nudgeloop.domain import addresses, consent, contact_policy, idempotency, mail, reputation, vouchers
from nudgeloop.domain.aggregates import OrderFact, aggregate, counted, recent_skus
from nudgeloop.domain.customer import Customer
from nudgeloop.domain.events import PROFILE_FIELDS
from nudgeloop.domain.journey_contract import SendRequest
from nudgeloop.domain.vouchers import Voucher
from nudgeloop.domain.windows import SendWindow
from nudgeloop.layout import SENT_PREFIX
from nudgeloop.observability import logger
from nudgeloop.services import preferences, recommend
from nudgeloop.services import vouchers as voucher_service

# SES errors after which no mail of this campaign step can go out (the message itself, or the
# account, is refused): never retried; the step is stopped with the reason until an operator
# resumes it (`nudgeloop sends resume`).
STOPS_STEP = frozenset(
    {
        "MessageRejected",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",  # the configuration set or identity is gone
    }
)
# Refused for this one message (for example an address SES cannot parse): recorded, not retried.
FAILS_MESSAGE = frozenset({"BadRequestException"})
THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"})


class SendThrottled(RuntimeError):
    """SES, or our own maximum send rate, asked us to slow down; nothing was sent and the
    reservation was released, so the journey's retry (with backoff) sends it later."""


_template_cache: dict[str, tuple[float, mail.Source | None]] = {}
warm.keeps(_template_cache.clear)
TEMPLATE_TTL_S = 60.0


def template_fetch(bucket: str, cached: bool = True, pinned: dict[str, str] | None = None) -> mail.Fetch:
    """Template files from S3 (``templates/<path>``), with their versions, cached a minute
    (uncached for checking a just uploaded template). ``pinned`` (path -> S3 version) reads those
    files at those versions: the last versions the upload check found valid; a file that check
    did not read (a body.mjml or locale variant added since) is absent, not read as it is now."""

    def fetch(name: str) -> mail.Source | None:
        if pinned is not None and name not in pinned:
            return None
        key = f"templates/{name}"
        version = (pinned or {}).get(name)
        cache = f"{key}@{version}" if version else key
        hit = _template_cache.get(cache) if cached else None
        if hit is not None and time.monotonic() - hit[0] < TEMPLATE_TTL_S:
            return hit[1]
        found: mail.Source | None
        try:
            obj = client("s3").get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
            found = mail.Source(obj["Body"].read().decode(), str(obj.get("VersionId") or obj.get("ETag", "-")).strip('"'))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            found = None
        if cached:
            _template_cache[cache] = (time.monotonic(), found)
        return found

    return fetch


def redact(text: str, customer: Any) -> str:
    """``text`` without any of the customer's profile or attribute values (a template error may
    quote one, e.g. a missing key that is a last name): for logs and the ledger."""
    values = [getattr(customer, name, None) for name in PROFILE_FIELDS]
    values += list((getattr(customer, "address", None) or {}).values())  # its lines, postal code, city
    values += list((getattr(customer, "attributes", None) or {}).values())
    for value in sorted({str(v) for v in values if isinstance(v, str | int | float) and len(str(v)) >= 2}, key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    return text


def personal_context(
    customer: Customer,
    orders: list[OrderFact],
    request: SendRequest,
    *,
    unsubscribe: str,
    voucher: Voucher | None,
) -> dict[str, Any]:
    """What a template may use (the same names ``nudgeloop templates validate`` checks)."""
    agg = aggregate(orders)
    latest = max(counted(orders), key=lambda o: o.occurred_at, default=None)
    clv = insights.clv_of(customer.customer_id)
    return mail.context(
        customer={
            "id": customer.customer_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "gender": customer.gender,
            "locale": customer.locale,
            "step": customer.step,
            "segment": customer.step,  # the older name, kept for existing templates
            "orders": agg.orders,
            "revenue": str(agg.revenue),
            "attributes": dict(customer.attributes or {}),
        },
        clv=clv,
        order=(
            {"order_id": latest.order_id, "total": str(latest.total), "occurred_at": clock.iso(latest.occurred_at)}
            if latest is not None
            else None
        ),
        recommendations=recommend.for_customer(customer, recent_skus(orders)),
        voucher=voucher.code if voucher else None,
        voucher_expires_on=voucher.expires_at.date().isoformat() if voucher else None,
        campaign_id=request.campaign_id,
        step_id=request.step_id,
        unsubscribe_url=unsubscribe,
        confirm_url=request.confirm_url,
        trigger=trigger_context(request.trigger, customer),
    )


def send_test(
    templates_bucket: str, template: str, to: str, context: dict[str, Any], locale: str | None, sender: str
) -> dict[str, Any]:
    """A test send of ``template`` rendered with ``context`` to ``to``, the subject marked
    ``[TEST]``: no ledger entry, no counts, no configuration set (so no feedback reaches the
    analytics), and no working unsubscribe link. Raises ``ValueError`` for an address that is
    not one mailbox and ``TemplateError`` for a template that does not render."""
    recipient = addresses.mailbox(to)
    rendered = mail.render(template_fetch(templates_bucket, cached=False), template, context, locale)
    message = mail.build_message(
        sender=sender,
        recipient=recipient,
        subject=f"[TEST] {rendered.subject}",
        html=rendered.html,
        text=rendered.text,
        sent_at=clock.now(),
        unsubscribe_url=None,
    )
    response = client("sesv2").send_email(
        FromEmailAddress=sender, Destination={"ToAddresses": [recipient]}, Content={"Raw": {"Data": message.as_bytes()}}
    )
    return {"message_id": response["MessageId"], "to": recipient, "subject": f"[TEST] {rendered.subject}",
            "versions": rendered.versions}  # fmt: skip


def trigger_context(trigger: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """What started the journey, for the template: the trigger's fields, the triggering event's
    properties (read from the event log by its id: the bus and the journey carry ids, not
    personal data) and, for a date of a booking, the booking."""
    found: dict[str, Any] = {**trigger, "data": {}}
    event_id = trigger.get("event_id")
    if event_id:
        event = event_log.get_event(customer.customer_id, str(event_id))
        if event is not None:
            found["data"] = event.properties
            found["occurred_at"] = event.occurred_iso()
    ref = trigger.get("ref")
    booking = next((b for b in customer.bookings if str(b.get("booking_id")) == str(ref)), None) if ref else None
    if booking is not None:
        found["booking"] = booking
    return found


CONFIRM_CAMPAIGN, CONFIRM_STEP, CONFIRM_TEMPLATE = "double-opt-in", "confirm", "confirm-subscription"


def confirmation_request(detail: dict[str, Any], public_base_url: str, signing_key: bytes) -> SendRequest:
    """The send request for a double opt-in confirmation mail (``ConsentConfirmationRequested``).
    A service mail (the person has not agreed to marketing yet), once per sign-up statement."""
    requested = str(detail["requested_at"])
    once = idempotency.confirmation(str(detail["purpose"]), requested)
    return SendRequest(
        customer_id=detail["customer_id"],
        campaign_id=CONFIRM_CAMPAIGN,
        step_id=CONFIRM_STEP,
        template=CONFIRM_TEMPLATE,
        execution=once,
        consent_purpose="service",
        correlation_id=detail.get("correlation_id"),
        confirm_url=preferences.confirm_url(public_base_url, signing_key, detail["customer_id"], detail["purpose"], requested),
    )


def marketing_sends_since(customer_id: str, since: datetime, priority: int = contact_policy.DEFAULT_PRIORITY) -> list[datetime]:
    """When marketing mails that count against the cap of a mail of ``priority`` went to the
    customer since ``since``, oldest first (the contact policy's count)."""
    cutoff = clock.iso(since)
    return sorted(
        clock.parse_iso(entry.sent_at)
        for entry in ledger.ledger(customer_id)
        if entry.status == "sent"
        and entry.sent_at is not None
        and entry.sent_at >= cutoff
        and contact_policy.is_marketing(str(entry.data.get("purpose", "newsletter")))
        and contact_policy.counts_for_cap(int(entry.data.get("priority", contact_policy.DEFAULT_PRIORITY)), priority)
    )


def send_configured(
    request: dict[str, Any] | SendRequest, settings: Settings, signing_key: bytes, window: SendWindow | None = None
) -> dict[str, Any]:
    """:func:`send_step` with the stack's settings (both send handlers use this)."""
    return send_step(
        request,
        templates_bucket=settings.templates_bucket,
        configuration_set=settings.configuration_set,
        service_configuration_set=settings.service_configuration_set,
        sender=settings.sender,
        public_base_url=settings.public_base_url,
        signing_key=signing_key,
        archive_bucket=settings.data_bucket,
        max_send_rate=settings.max_send_rate,
        frequency_cap=settings.frequency_cap_limit(),
        in_doubt_after_s=settings.in_doubt_after_s,
        window=window,
    )


def send_step(
    raw_request: dict[str, Any] | SendRequest,
    *,
    templates_bucket: str,
    configuration_set: str,
    sender: str,
    public_base_url: str,
    signing_key: bytes,
    archive_bucket: str | None = None,
    max_send_rate: int = 0,
    frequency_cap: tuple[int, int] | None = None,
    service_configuration_set: str | None = None,
    in_doubt_after_s: int = 900,
    window: SendWindow | None = None,
) -> dict[str, Any]:
    """Send at most once per (customer, campaign, step, journey).

    With a send ``window`` (a broadcast's: journeys wait for it in the state machine), a customer
    outside it in their time zone is not sent now: ``later``, with the moment it opens.

    Checked at send time: the address, the current consent for the step's purpose, the
    suppression list and whether the step was stopped. The ledger entry is reserved
    conditionally before SES is called and completed after. A reservation that already exists
    means sent or in doubt: we never send again.
    """
    request = SendRequest.model_validate(raw_request)
    customer_id, campaign_id, step_id = request.customer_id, request.campaign_id, request.step_id
    ledger_key = idempotency.ledger_key(campaign_id, step_id, request.execution)
    meta = {"customer_id": customer_id, "campaign_id": campaign_id, "step_id": step_id}
    if request.correlation_id:
        logger.set_correlation_id(request.correlation_id)
    customer = customer_store.get_customer(customer_id)
    if window is not None and customer is not None:
        now = clock.now()
        slot = window.next_slot(now, customer.timezone, customer.country)
        if slot > now:
            return {"status": "later", "not_before": clock.iso(slot)}
    purpose = request.consent_purpose
    marketing = contact_policy.is_marketing(purpose)
    email = customer.email if customer is not None else None
    checks = deliverability.send_checks(email, campaign_id, step_id, marketing=marketing)
    facts = contact_policy.Facts(
        address="missing"
        if not email
        else "ok"
        if addresses.is_mailbox(email)
        else "invalid",  # invalid: stored before today's validation
        consent=customer is not None and consent.allows(dict(customer.consents or {}), purpose),
        marketing=marketing,
        suppressed=checks.suppressed,
        stopped=checks.stopped,
        paused=checks.paused,
    )
    refusal = contact_policy.before_reserving(facts)
    if refusal is not None and refusal.status == "skipped":
        ledger.record_skip(customer_id, ledger_key, {**meta, "reason": refusal.reason}, refusal.counter)  # once per journey
        return {"status": "skipped", "reason": refusal.reason}
    if refusal is not None:  # the reputation circuit breaker: held, not dropped; the journey tries again later
        return {"status": refusal.status, "reason": refusal.reason}
    assert customer is not None and email is not None
    reservation = ledger.reserve_send(
        customer_id,
        ledger_key,
        {
            **meta,
            "template": request.template,
            "purpose": purpose,
            "priority": request.priority,
            "correlation_id": request.correlation_id,
        },
        in_doubt_after_s=in_doubt_after_s,
    )
    if reservation is None:
        held = ledger.ledger_entry(customer_id, ledger_key)
        return {"status": "duplicate", "ledger": held.status if held else "unknown"}
    now = clock.now()
    if frequency_cap is not None and marketing:
        days = frequency_cap[1]
        recent = marketing_sends_since(customer_id, now - timedelta(days=days), request.priority)
        capped = contact_policy.over_cap(marketing, recent, frequency_cap, now, request.cap_deferral_days)
        if capped is not None and capped.retry_at is not None:  # deferred: the journey tries again then
            ledger.release(reservation)
            logger.info("send deferred by the frequency cap", extra={"retry_at": clock.iso(capped.retry_at)})
            return {"status": capped.status, "reason": capped.reason, "retry_at": clock.iso(capped.retry_at)}
        if capped is not None:  # recorded as capped: this step is not sent to this person later either
            note = f"{len(recent)} marketing mails in {days} days"
            ledger.complete_send(reservation, capped.counter, {"reason": note}, None)
            return {"status": capped.status, "reason": capped.reason}
    if max_send_rate and not ledger.take_send_slot(now, max_send_rate):
        ledger.release(reservation)
        raise SendThrottled(f"more than {max_send_rate} mails in this second")
    unsub = preferences.unsubscribe_url(public_base_url, signing_key, customer_id, purpose, f"{campaign_id}#{step_id}")
    prefix = request.voucher_prefix
    voucher = None
    if prefix:  # stored before the mail goes: the shop can check and redeem what the mail says
        code = vouchers.code(signing_key, prefix, customer_id, campaign_id, step_id, request.execution)
        voucher = voucher_service.issue(code, customer_id, campaign_id, step_id, request.voucher_days)
    elif request.voucher_pool:
        voucher = voucher_service.claim(
            request.voucher_pool, customer_id, campaign_id, step_id, request.execution, request.voucher_days
        )
        if voucher is None:  # a mail that promises a code goes with one, or not at all
            reason = f"voucher_pool_empty: {request.voucher_pool}"
            ledger.complete_send(reservation, "failed", {"reason": reason}, None)
            logger.error("voucher pool empty: mail not sent", extra={"pool": request.voucher_pool, "campaign": campaign_id})
            return {"status": "failed", "reason": reason}
    context = personal_context(customer, event_log.order_facts(customer_id), request, unsubscribe=unsub, voucher=voucher)
    try:
        status = deliverability.template_status(request.template) or {}
        pinned = status.get("last_valid_versions") if status.get("status") == "invalid" else None
        if status.get("status") == "invalid" and not pinned:
            raise TemplateError(f"the upload check found {request.template!r} invalid and no earlier version valid")
        fetch = template_fetch(templates_bucket, pinned=pinned)  # an invalid upload: its last valid versions
        rendered = mail.render(fetch, request.template, context, customer.locale, cache_key=templates_bucket)
    except TemplateError as exc:  # a broken template never becomes a broken mail
        reason = redact(f"template_error: {type(exc).__name__}: {exc}", customer)[:300]
        ledger.complete_send(reservation, "failed", {"reason": reason}, None)
        logger.error("template failed to render", extra={"template": request.template, "error": reason})
        return {"status": "failed", "reason": reason}
    message = mail.build_message(
        sender=sender,
        recipient=email,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sent_at=now,
        unsubscribe_url=unsub if purpose != "service" else None,
    )
    raw = message.as_bytes()
    archive_key = _archive(archive_bucket, raw, now, ledger_key, customer_id, rendered.versions) if archive_bucket else None
    try:
        response = client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [email]},
            Content={"Raw": {"Data": raw}},
            # service mail has its own configuration set: a reputation pause never stops it
            ConfigurationSetName=(service_configuration_set or configuration_set) if purpose == "service" else configuration_set,
            EmailTags=[{"Name": "campaign", "Value": campaign_id}, {"Name": "step", "Value": step_id}],
        )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in THROTTLED:
            ledger.release(reservation)
            raise SendThrottled(code) from exc
        if code in STOPS_STEP or code in FAILS_MESSAGE:
            if code in STOPS_STEP:
                deliverability.stop_step(campaign_id, step_id, code)
                logger.error("SES refused; campaign step stopped", extra={"code": code, **meta})
            ledger.complete_send(reservation, "failed", {"reason": code}, None)
            return {"status": "failed", "reason": code}
        raise  # unknown outcome: the reservation stays, is reported in doubt, and is never resent
    message_id = response["MessageId"]
    done = {**meta, "message_id": message_id, "sent_at": clock.iso(now), "template_versions": rendered.versions}
    if archive_key:
        done["archive_key"] = archive_key
    if voucher is not None:  # whose code it is, for the person's export (services/personal_data)
        done["voucher"] = voucher.code
    ledger.complete_send(reservation, "sent", done, message_id, reputation=reputation.counts_sent())
    logger.info("mail sent", extra={"campaign_id": campaign_id, "step_id": step_id, "message_id": message_id})
    return {"status": "sent", "message_id": message_id}


def _archive(bucket: str, raw: bytes, now: Any, ledger_key: str, customer_id: str, versions: dict[str, str]) -> str:
    """Keep the exact message (raw MIME) before it goes out: what was sent to whom, when, with
    which template versions. Keyed by the ledger entry, so a retry overwrites, never adds."""
    name = idempotency.archived_mail(customer_id, ledger_key)
    key = f"{SENT_PREFIX}dt={now.date().isoformat()}/{name}.eml"
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=raw,
        ContentType="message/rfc822",
        Metadata={"ledger": ledger_key[:512], "templates": ",".join(f"{k}@{v}" for k, v in versions.items())[:1500]},
    )
    return key
