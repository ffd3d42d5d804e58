"""Alarms and the dashboard of the loop, at one of two levels (context ``monitoring``; each alarm
metric is billed every month whether or not anything happens: docs/costs.md):

- ``minimal`` (the default): what must never go unnoticed: messages in any dead-letter queue
  (stored events that could not be applied end there after their retries), mails in doubt,
  marketing paused by the reputation circuit breaker, failed journeys;
- ``full``: also each function's errors, events failing at their first try, journeys timed out or throttled, SES's own reputation
  rates, sudden drops or spikes of ingested events and sent mails against their usual level
  (anomaly detection), and one dashboard for events in, migrations, journeys, mails, feedback and
  errors."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .functions import FunctionFactory


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        alarm_email: str,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        full = functions.monitoring == "full"  # the functions publish what this level alarms on
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
        for key, fn in functions.functions.items() if full else ():
            self._above_zero(f"{key}Errors", f"{key} raised errors", fn.metric_errors(period=cdk.Duration.minutes(5)))
        if state_machine is not None:  # journeys that failed, ran out of time or were throttled
            minute5 = cdk.Duration.minutes(5)
            for name, metric in (
                ("JourneysFailed", state_machine.metric_failed(period=minute5)),
                *(
                    (
                        ("JourneysTimedOut", state_machine.metric_timed_out(period=minute5)),
                        ("JourneysThrottled", state_machine.metric_throttled(period=minute5)),
                    )
                    if full
                    else ()
                ),
            ):
                self._above_zero(f"{name}Alarm", f"{name}: journeys that ended without finishing (docs/operations.md)", metric)
        self._above_zero(
            "SendsInDoubtAlarm",
            "Mail reservations SES may or may not have sent (never retried): settle them (docs/operations.md)",
            _metric("SendsInDoubt", "Maximum", cdk.Duration.minutes(5)),
        )

        self._above_zero(
            "MarketingPausedAlarm",
            "The reputation circuit breaker paused marketing mail (bounce rate >= 2.5 % or complaints >= 0.05 % over "
            "24 h): find the cause, then `nudgeloop sends resume-marketing` (docs/operations.md)",
            _metric("MarketingPaused", "Sum", cdk.Duration.minutes(5)),
        )
        self.dashboard: cw.Dashboard | None = None
        if full:
            self._full(functions)

    def _full(self, functions: FunctionFactory) -> None:
        """What only the ``full`` level ships: events that failed to apply at their first try (at
        ``minimal``, those whose retries ran out are in the failures queue, alarmed), SES's
        reputation rates, anomaly bands, the dashboard."""
        self._above_zero(
            "EventsFailedAlarm",
            "Stored events that could not be applied (logged with their exception; retried, then in "
            "nudgeloop-failures): a batch's partial failures do not count as function errors",
            _metric("EventsFailed", "Sum", cdk.Duration.minutes(5)),
        )
        for name, threshold, what in (
            ("Reputation.BounceRate", 0.025, "bounce rate"),
            ("Reputation.ComplaintRate", 0.0005, "complaint rate"),
        ):
            alarm = cw.Alarm(
                self,
                f"Ses{what.title().replace(' ', '')}Alarm",
                alarm_description=f"SES account {what} at half of the level at which SES reviews the account",
                metric=cw.Metric(namespace="AWS/SES", metric_name=name, statistic="Maximum", period=cdk.Duration.hours(1)),
                threshold=threshold,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(self.action)
            self.alarms.append(alarm)
        for metric_name, what in (("EventsAccepted", "events ingested"), ("Mail_sent", "mails sent")):
            anomaly = cw.AnomalyDetectionAlarm(
                self,
                f"{metric_name.replace('_', '')}Anomaly",
                alarm_description=f"{what.capitalize()} far from their usual level for this hour (a broken shop "
                "integration, a stuck queue, or a campaign gone wild)",
                metric=_metric(metric_name, "Sum", cdk.Duration.hours(1)),
                std_devs=3,
                evaluation_periods=2,
                comparison_operator=cw.ComparisonOperator.LESS_THAN_LOWER_OR_GREATER_THAN_UPPER_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            anomaly.add_alarm_action(self.action)
            self.alarms.append(anomaly)
        self.dashboard = self._dashboard(functions)

    def _dashboard(self, functions: FunctionFactory) -> cw.Dashboard:
        hour = cdk.Duration.hours(1)

        def graph(title: str, names: list[str]) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, width=8, left=[_metric(n, "Sum", hour) for n in names])

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{functions.catalog.prefix}-loop")
        dashboard.add_widgets(
            graph("Events in", ["EventsAccepted", "EventsRejected", "EventsDuplicate", "ImportRowsAccepted"]),
            graph("Staircase", ["Migrations", "CustomersReviewed", "DateOccasions"]),
            graph("Journeys", ["JourneysStarted", "JourneysDeduplicated", "JourneysWoken", "ScheduledSends"]),
        )
        dashboard.add_widgets(
            graph("Mails", ["Mail_sent", "Mail_capped", "Mail_skipped", "Mail_held", "Mail_failed", "Confirmation_sent"]),
            graph(
                "Feedback",
                [
                    "Feedback_delivered",
                    "Feedback_opened",
                    "Feedback_clicked",
                    "Feedback_bounced",
                    "Feedback_complained",
                    "Unsubscribes",
                ],
            ),
            cw.GraphWidget(
                title="Errors",
                width=8,
                left=[fn.metric_errors(period=hour, label=key) for key, fn in sorted(functions.functions.items())],
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="SES reputation",
                width=8,
                left=[
                    cw.Metric(namespace="AWS/SES", metric_name=n, statistic="Maximum", period=hour)
                    for n in ("Reputation.BounceRate", "Reputation.ComplaintRate")
                ],
            ),
            graph("Analytics and in doubt", ["OrdersAttributed", "EntriesCompared", "SendsInDoubt", "MarketingPaused"]),
            cw.AlarmStatusWidget(title="Alarms", width=8, alarms=list(self.alarms)),
        )
        return dashboard

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


def _metric(name: str, statistic: str, period: cdk.Duration) -> cw.Metric:
    """One of our Powertools (EMF) metrics: namespace Nudgeloop, dimension service=nudgeloop."""
    return cw.Metric(
        namespace="Nudgeloop", metric_name=name, dimensions_map={"service": "nudgeloop"}, statistic=statistic, period=period
    )
