"""Alarms for the loop: anything in a dead-letter queue, and handler errors."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from .functions import FunctionFactory


class Observability(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: FunctionFactory, alarm_email: str) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(alarm_email))
        self.action = actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []
        for key, dlq in functions.dlqs.items():
            self._above_zero(
                f"{key.capitalize()}DlqAlarm",
                f"Messages in {key} dead-letter queue: fix the cause, then redrive (docs/operations.md)",
                dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(1)),
            )
        for key, fn in functions.functions.items():
            self._above_zero(f"{key}Errors", f"{key} raised errors", fn.metric_errors(period=cdk.Duration.minutes(5)))
        self._above_zero(
            "SendsInDoubtAlarm",
            "Mail reservations SES may or may not have sent (never retried): settle them (docs/operations.md)",
            cw.Metric(
                namespace="Nudgeloop",
                metric_name="SendsInDoubt",
                dimensions_map={"service": "nudgeloop"},
                statistic="Maximum",
                period=cdk.Duration.minutes(5),
            ),
        )

    def _above_zero(self, construct_id: str, description: str, metric: cw.IMetric) -> None:
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.action)
        self.alarms.append(alarm)
