"""Sending: the SES configuration set (events to EventBridge) and the send function."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_ses as ses
from constructs import Construct

from nudgeloop.specs import Catalog

from .data import Data
from .functions import FunctionFactory


class Sending(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        functions: FunctionFactory,
        data: Data,
        sender: str,
        public_base_url: str,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        # Marketing and service mail go through separate configuration sets: the reputation
        # circuit breaker turns the marketing one off; confirmations and reminders keep going.
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.configuration_sets = {}
        for construct_name, name in (
            ("ConfigurationSet", catalog.configuration_set),
            ("ServiceConfigurationSet", catalog.service_configuration_set),
        ):
            self.configuration_sets[name] = self._configuration_set(construct_name, name, default_bus)
        self.configuration_set = self.configuration_sets[catalog.configuration_set]
        self._wire(catalog, functions, data, sender, public_base_url, bus)

    def _configuration_set(self, construct_name: str, name: str, default_bus: events.IEventBus) -> ses.ConfigurationSet:
        configuration_set = ses.ConfigurationSet(
            self,
            construct_name,
            configuration_set_name=name,
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        configuration_set.add_event_destination(
            "ToEventBridge",
            destination=ses.EventDestination.event_bus(default_bus),
            events=[
                ses.EmailSendingEvent.SEND,
                ses.EmailSendingEvent.DELIVERY,
                ses.EmailSendingEvent.OPEN,
                ses.EmailSendingEvent.CLICK,
                ses.EmailSendingEvent.BOUNCE,
                ses.EmailSendingEvent.COMPLAINT,
                ses.EmailSendingEvent.REJECT,
                ses.EmailSendingEvent.RENDERING_FAILURE,
                ses.EmailSendingEvent.DELIVERY_DELAY,
            ],
        )
        return configuration_set

    def _wire(
        self,
        catalog: Catalog,
        functions: FunctionFactory,
        data: Data,
        sender: str,
        public_base_url: str,
        bus: events.IEventBus,
    ) -> None:
        fn = functions.function("send", {"sender": sender, "public_base_url": public_base_url})
        # Templates uploaded to S3 are checked (notification -> templates queue -> this function).
        functions.function("templates_check")
        # Double opt-in: pending sign-ups (bus) -> confirmations queue -> one confirmation mail.
        functions.function("send_confirmation", {"sender": sender, "public_base_url": public_base_url})
        functions.rule(self, "ConsentConfirmationsRule", "consent_confirmations", bus)
        # Outbound webhooks: events for the shop's systems (bus) -> signed POSTs; retried on the sweep.
        functions.function("webhook_deliver")
        # broadcasts: the selection and release on the sweep, and the batches it invokes
        functions.function("broadcast", {"sender": sender, "public_base_url": public_base_url})
        functions.function("broadcast_send", {"sender": sender, "public_base_url": public_base_url})
        functions.rule(self, "OutboundWebhooksRule", "outbound_webhooks", bus)
        self.function = fn
