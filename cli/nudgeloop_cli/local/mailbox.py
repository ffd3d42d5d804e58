"""SES's side of a send: the outbox of accepted mails, and what the recipients' mail servers
answer (SES's mailbox simulator addresses bounce and complain; all else is delivered),
published as the configuration set's EventBridge destination publishes SES events."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.domain import ses_events

from .base import REGION, LocalError
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack

SIMULATED = ("Send", "Delivery", "Open", "Click", "Bounce", "Complaint")  # what the local mailbox can answer with
SIMULATOR_DOMAIN = "simulator.amazonses.com"  # SES's mailbox simulator (see _mailbox_answers)


class Mailbox:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.sent_with: dict[str, str] = {}  # SES message id -> the configuration set it was sent with
        self._accepted: list[str] = []  # mails SES accepted whose recipients' servers have not answered yet
        self._read: dict[str, dict[str, Any]] = {}  # message id -> the outbox entry, once complete

    @staticmethod
    def teach_moto_sending_options() -> None:
        """SES v2 PutConfigurationSetSendingOptions, which moto lacks (the circuit breaker uses it):
        stored on moto's configuration set, so GetConfigurationSet reports it."""
        from moto.sesv2.responses import SESV2Response

        def put_configuration_set_sending_options(self: Any) -> str:
            found = self.sesv2_backend.get_configuration_set(self._get_param("ConfigurationSetName"))
            found.enabled = bool(self._get_param("SendingEnabled"))
            return json.dumps({})

        SESV2Response.put_configuration_set_sending_options = put_configuration_set_sending_options  # type: ignore[attr-defined]

    def answer_accepted(self) -> None:
        """Every mail SES accepted (journeys' and service mail) gets its answer."""
        while self._accepted:
            self._mailbox_answers(self._accepted.pop(0))

    def emit_ses_event(self, message_id: str, event_type: str, extra: dict[str, Any] | None = None) -> None:
        with self.stack.aws_lock:
            self._emit_ses_event(message_id, event_type, extra)

    def _emit_ses_event(self, message_id: str, event_type: str, extra: dict[str, Any] | None = None) -> None:
        """Publish an SES event as the configuration set's EventBridge destination would."""
        known = ses_events.by_event_type(event_type)
        if known is None or event_type not in SIMULATED:
            raise LocalError(f"unsupported SES event type {event_type}; use one of {sorted(SIMULATED)}")
        detail_type, key = known.detail_type, known.detail_key
        message = self._raw_message(message_id)
        if message is None:
            raise LocalError(f"no such message {message_id}")
        now = clock.iso(self.stack.clock.now())
        detail = {
            "eventType": event_type,
            "mail": {
                "timestamp": now,
                "messageId": message_id,
                "source": message.source,
                "destination": list(message.destinations.get("ToAddresses", []))
                if isinstance(message.destinations, dict)
                else list(message.destinations or []),
                "tags": {"ses:configuration-set": [self.sent_with.get(message_id, self.stack.catalog.configuration_set)]},
            },
            key: {"timestamp": now, **(extra or {})},
        }
        aws.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.ses",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": "default",
                }
            ]
        )

    def remember_configuration_set(self, service: str, operation: str, params: dict[str, Any], result: Any) -> None:
        if service == "sesv2" and operation == "SendEmail":
            if params.get("ConfigurationSetName"):
                self.sent_with[result["MessageId"]] = params["ConfigurationSetName"]
            self._accepted.append(result["MessageId"])  # answered by the driver, not as the sender

    def _mailbox_answers(self, message_id: str) -> None:
        """What the recipient's mail server answers, as SES's mailbox simulator does: mail to
        ``bounce[+label]@simulator.amazonses.com`` bounces (permanent), mail to
        ``complaint[+label]@...`` is delivered and then reported as spam; all else is delivered.
        Each is first reported sent, as SES reports every mail it accepted."""
        with self.stack.aws_lock:
            self._emit_ses_event(message_id, "Send")
            message = self._raw_message(message_id)
            destinations = message.destinations if message is not None else []
            to = list(destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations or [])
            local, _, domain = (to[0] if to else "").lower().partition("@")
            kind = local.split("+", 1)[0] if domain == SIMULATOR_DOMAIN else ""
            if kind == "bounce":
                self._emit_ses_event(message_id, "Bounce", {"bounceType": "Permanent", "bounceSubType": "General"})
                return
            self._emit_ses_event(message_id, "Delivery")
            if kind == "complaint":
                self._emit_ses_event(message_id, "Complaint", {"complaintFeedbackType": "abuse"})

    def _ses_backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[ACCOUNT][REGION]

    def _raw_message(self, message_id: str) -> Any:
        return next((m for m in self._ses_backend().sent_messages if m.id == message_id), None)

    def sent_for_state(self) -> list[dict[str, Any]]:
        """Every mail SES accepted, as the local state keeps it (state.py)."""
        out = []
        for m in self._ses_backend().sent_messages:
            raw = getattr(m, "raw_data", None)
            if raw is None:
                continue  # only raw mails are sent (the send path builds whole MIME messages)
            out.append(
                {
                    "id": m.id,
                    "source": m.source,
                    "destinations": list(m.destinations),
                    "raw_data": raw if isinstance(raw, str) else raw.decode("utf-8", "surrogateescape"),
                    "configuration_set": self.sent_with.get(m.id),
                }
            )
        return out

    def restore_sent(self, mails: list[dict[str, Any]]) -> None:
        """Put the mails a saved state holds back into SES's history, before any new one."""
        from moto.ses.models import RawMessage

        backend = self._ses_backend()
        held = list(backend.sent_messages)
        backend.sent_messages[:] = [RawMessage(m["id"], m["source"], m["destinations"], m["raw_data"]) for m in mails] + held
        self.sent_with.update({m["id"]: m["configuration_set"] for m in mails if m.get("configuration_set")})

    def accepted_ids(self) -> list[str]:
        """The SES message id of every mail SES accepted, in order (recorded by the ledger or not)."""
        with self.stack.aws_lock:
            return [m.id for m in self._ses_backend().sent_messages]

    def outbox(self, after: int = 0) -> list[dict[str, Any]]:
        """The mails SES accepted, in order (those after the first ``after``)."""
        with self.stack.aws_lock:
            return self._outbox(after)

    def _outbox(self, after: int = 0) -> list[dict[str, Any]]:
        mails = []
        for message in list(self._ses_backend().sent_messages)[after:]:
            read = self._read.get(message.id)
            if read is None:
                read = self._entry(message)
                if read is None:
                    continue
                if read["sent_at"] is not None:  # complete: the ledger has recorded the send
                    self._read[message.id] = read
            mails.append({**read, "headers": dict(read["headers"])})  # the caller's own copy
        return mails

    def _entry(self, message: Any) -> dict[str, Any] | None:
        """A sent mail as the outbox shows it (parsed, with what the ledger says it was for)."""
        from nudgeloop.dal import ledger

        raw = getattr(message, "raw_data", None)
        if raw is None:
            return None
        parsed = BytesParser(policy=policy.default).parsebytes(raw.encode() if isinstance(raw, str) else raw)
        html = parsed.get_body(preferencelist=("html",))
        text = parsed.get_body(preferencelist=("plain",))
        record = ledger.message_record(message.id) or {}
        sent_at = None
        if record:
            entry = next(
                (e for e in ledger.ledger(record["customer_id"]) if e.data.get("message_id") == message.id),
                None,
            )
            sent_at = entry.sent_at if entry else None
        return {
            "message_id": message.id,
            "to": parsed["To"],
            "from": parsed["From"],
            "subject": parsed["Subject"],
            "html": html.get_content() if html is not None else None,
            "text": text.get_content() if text is not None else None,
            "headers": {k: str(v) for k, v in parsed.items()},
            "campaign_id": record.get("campaign_id"),
            "step_id": record.get("step_id"),
            "customer_id": record.get("customer_id"),
            "sent_at": sent_at,
        }
