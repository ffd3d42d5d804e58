"""The event bus and the scheduled re-segmentation."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from nudgeloop.resources import Catalog
from nudgeloop_infra.nag import acknowledge

from .data import Data
from .functions import FunctionFactory


class Segmentation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=catalog.bus_name)
        spec = catalog.function("segment_daily")
        fn = functions.function("segment_daily")
        data.tables["customers"].grant_read_write_data(fn)
        data.tables["orders"].grant_read_data(fn)
        data.tables["events"].grant_write_data(fn)
        self.bus.grant_put_events_to(fn)
        schedule_dlq = sqs.Queue(self, "ScheduleDlq", enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED)
        acknowledge(
            schedule_dlq,
            {
                "AwsSolutions-SQS3": "This queue is itself a dead-letter queue.",
            },
        )
        events.Rule(
            self,
            "DailySchedule",
            rule_name=f"{catalog.prefix}-segment-daily",
            schedule=events.Schedule.expression(spec.schedule or ""),
            targets=[targets.LambdaFunction(fn, dead_letter_queue=schedule_dlq, retry_attempts=4)],
        )
        self.function = fn
