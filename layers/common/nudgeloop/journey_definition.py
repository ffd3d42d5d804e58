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
                "Next": "Plan",
            },
            "Park": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "${ParkFunctionArn}",
                    "Payload": {
                        "token.$": "$$.Task.Token",
                        "execution.$": "$$.Execution.Name",
                        "state.$": "$",
                    },
                },
                "ResultPath": None,
                "TimeoutSecondsPath": "$.park_timeout_s",
                "Retry": [_LAMBDA_RETRY],
                # the wake sweep missed this timer: back to Plan, which parks again or goes on
                "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Plan"}],
                "Next": "Plan",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def render(arns: dict[str, str]) -> str:
    """The definition as JSON with the placeholders replaced (what the local runtime deploys)."""
    text = json.dumps(definition(), indent=2)
    for placeholder, arn in arns.items():
        text = text.replace("${" + placeholder + "}", arn)
    return text
