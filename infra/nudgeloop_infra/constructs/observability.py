"""Alarms for the loop: anything in a dead-letter queue, and handler errors."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
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
        action = actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []
        for key, dlq in functions.dlqs.items():
            alarm = cw.Alarm(
                self,
                f"{key.capitalize()}DlqAlarm",
                alarm_description=f"Messages in the {key} dead-letter queue: redrive after fixing the cause",
                metric=dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(1)),
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.alarms.append(alarm)
        for key, fn in functions.functions.items():
            self.alarms.append(self._errors(key, fn, action))

    def _errors(self, key: str, fn: lambda_.Function, action: actions.SnsAction) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            f"{key}Errors",
            alarm_description=f"{fn.node.id} raised errors",
            metric=fn.metric_errors(period=cdk.Duration.minutes(5)),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        return alarm
