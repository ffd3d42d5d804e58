"""The one generic journey state machine (Amazon States Language).

It loops Plan -> (Send | Park) -> Plan until the interpreter says ``end``. Campaign logic lives in
data (the campaign version pinned at entry), so marketers change journeys without a deploy.
Waits park a task token in DynamoDB (``Park``); the ``journey-wake`` schedule resumes them with
SendTaskSuccess, which works the same on AWS and on the local runtime's simulated clock.

The CDK stack passes the definition with ``definition_substitutions``; the local runtime
substitutes moto's function ARNs for the same placeholders.
"""

from __future__ import annotations

import json
from typing import Any

from nudgeloop.domain.journey_contract import JOURNEY_FIELDS

PLACEHOLDERS = {
    "PlanFunctionArn": "journey_plan",
    "SendFunctionArn": "send",
    "ParkFunctionArn": "journey_park",
}
# A Park task ends when the wake sweep resumes it; its timeout (``park_timeout_s``, set by Plan:
# the wait plus a day of grace, capped well inside a Standard execution's year) is only the safety
# net for a timer the sweep never woke. It then goes back to Plan, which parks again if the wait
# is not over: a journey re-parks, it never times out.
PARK_GRACE_S = 24 * 3600
MAX_PARK_S = 30 * 24 * 3600

# Lambda's own transient failures (and a throttled Send under reserved concurrency): retried with
# full jitter, so that a burst of journeys does not retry in lockstep, and a ceiling on each delay.
_LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 8,
    "BackoffRate": 2,
    "MaxDelaySeconds": 120,
    "JitterStrategy": "FULL",
}
# A crashed or timed-out invocation of Plan or Send (an unhandled error, the runtime exiting,
# Lambda's timeout): a few tries more before the journey fails. Both are safe to repeat: Plan
# decides from the journey's state alone, and Send's ledger reservation sends a mail at most once
# (a send that crashed after SES took the mail is found reserved and reported in doubt).
# Found by bench/chaos.py: without it, every crashed task ended its customer's journey.
_CRASH_RETRY = {
    "ErrorEquals": ["States.TaskFailed"],  # any error of the task but States.Timeout
    "IntervalSeconds": 1,  # a crashed container is replaced at once; a bug fails within seconds
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "MaxDelaySeconds": 10,
    "JitterStrategy": "FULL",
}
# A task whose tries are all spent (a crash on every try, an outage of DynamoDB or SES longer than
# the retries, a bad deploy of Plan or Send until it is rolled back) does not fail the journey at
# once: the journey cools down, parked like a wait (``Cooldown``: RECOVERY_DELAYS_S[n - 1] for the
# n-th time), and is planned again from its state (which the failed task did not change). The
# count travels in the state (``$.recovery.n``, counted by the state machine itself, so a Plan that
# keeps failing is counted too); after the last cool-down the journey fails (``Failed``: the
# failed-journeys alarm; the last error is in ``$.fault``). Found by bench/chaos.py at a 20 %
# fault rate: two of 45 journeys failed all four tries of a task.
RECOVERY_DELAYS_S = (600, 3600, 6 * 3600, 24 * 3600)
RECOVERY_TIMEOUT_S = max(RECOVERY_DELAYS_S) + PARK_GRACE_S  # the safety net, as a Park's
JOURNEY_FAILED = "Nudgeloop.JourneyFailed"
RECOVERABLE = ("Plan", "Send", "Park")  # the tasks whose failure cools down (``$.failed_task`` names it)


def _recover(task: str) -> dict[str, Any]:
    """The Catch of a task whose tries are spent: its error goes to ``$.fault``, its name to ``$.failed_task``."""
    return {"ErrorEquals": ["States.ALL"], "ResultPath": "$.fault", "Next": f"{task}Failed"}


def _park_task(extra: dict[str, Any]) -> dict[str, Any]:
    """A Park-function task that waits for its token (the wake sweep sends it when due)."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": "${ParkFunctionArn}",
            "Payload": {"token.$": "$$.Task.Token", "execution.$": "$$.Execution.Name", "state.$": "$", **extra},
        },
        "ResultPath": None,
        "Retry": [_LAMBDA_RETRY],
        "Next": "Plan",
    }


def definition() -> dict[str, Any]:
    return {
        "Comment": "Nudgeloop generic journey: interprets the campaign version pinned at entry",
        "StartAt": "Plan",
        "States": {
            "Plan": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${PlanFunctionArn}", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Retry": [_LAMBDA_RETRY, _CRASH_RETRY],
                "Catch": [_recover("Plan")],
                "Next": "Route",
            },
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.action", "StringEquals": "send", "Next": "Send"},
                    {"Variable": "$.action", "StringEquals": "wait", "Next": "Park"},
                ],
                "Default": "Done",
            },
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "${SendFunctionArn}",
                    "Payload": {  # the send request (domain/journey_contract.py), field by field
                        f"{name}.$": "$$.Execution.Name" if name == "execution" else f"$.{name}" for name in JOURNEY_FIELDS
                    },
                },
                "ResultSelector": {"status.$": "$.Payload.status", "result.$": "$.Payload"},
                "ResultPath": "$.last",
                "Retry": [
                    {
                        "ErrorEquals": ["SendThrottled"],  # SES said "later"
                        "IntervalSeconds": 30,
                        "MaxAttempts": 8,
                        "BackoffRate": 2,
                        "MaxDelaySeconds": 1800,
                        "JitterStrategy": "FULL",
                    },
                    _LAMBDA_RETRY,
                    _CRASH_RETRY,
                ],
                "Catch": [_recover("Send")],
                "Next": "Plan",
            },
            "Park": {
                **_park_task({}),
                "TimeoutSecondsPath": "$.park_timeout_s",
                # the wake sweep missed this timer: back to Plan, which parks again or goes on
                "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Plan"}, _recover("Park")],
            },
            **{
                f"{task}Failed": {"Type": "Pass", "Result": task, "ResultPath": "$.failed_task", "Next": "Recover"}
                for task in RECOVERABLE
            },
            "Recover": {
                "Type": "Choice",
                "Choices": [
                    # a journey started before the count existed: its first cool-down
                    {"Variable": "$.recovery.n", "IsPresent": False, "Next": "FirstCooldown"},
                    {"Variable": "$.recovery.n", "NumericGreaterThanEquals": len(RECOVERY_DELAYS_S), "Next": "Failed"},
                ],
                "Default": "CountCooldown",
            },
            "FirstCooldown": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.recovery", "Next": "Cooldown"},
            "CountCooldown": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.recovery.n, 1)"},
                "ResultPath": "$.recovery",
                "Next": "Cooldown",
            },
            "Cooldown": {
                **_park_task({"cooldown": True}),
                "TimeoutSeconds": RECOVERY_TIMEOUT_S,
                "Catch": [
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Resume"},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.fault", "Next": "Recover"},  # counted too
                ],
                "Next": "Resume",
            },
            # a failed Park parks again (its wait is in the state); a failed Plan or Send goes to Plan,
            # which tries a failed send's step again (its exits, window and consent checked anew)
            "Resume": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.failed_task", "StringEquals": "Park", "Next": "Park"}],
                "Default": "Plan",
            },
            "Failed": {"Type": "Fail", "Error": JOURNEY_FAILED, "CausePath": "$.fault.Cause"},
            "Done": {"Type": "Succeed"},
        },
    }


def render(arns: dict[str, str]) -> str:
    """The definition as JSON with the placeholders replaced (what the local runtime deploys)."""
    text = json.dumps(definition(), indent=2)
    for placeholder, arn in arns.items():
        text = text.replace("${" + placeholder + "}", arn)
    return text
