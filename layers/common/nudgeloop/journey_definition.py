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

PLACEHOLDERS = {
    "PlanFunctionArn": "journey_plan",
    "SendFunctionArn": "send",
    "ParkFunctionArn": "journey_park",
}
MAX_WAIT_S = 400 * 24 * 3600

_LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2,
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
                "Retry": [_LAMBDA_RETRY],
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
                    "Payload": {
                        "customer_id.$": "$.customer_id",
                        "campaign_id.$": "$.campaign_id",
                        "step_id.$": "$.step_id",
                        "template.$": "$.template",
                        "consent_purpose.$": "$.consent_purpose",
                        "voucher_prefix.$": "$.voucher_prefix",
                        "execution.$": "$$.Execution.Name",
                        "correlation_id.$": "$.correlation_id",
                    },
                },
                "ResultSelector": {"status.$": "$.Payload.status"},
                "ResultPath": "$.last",
                "Retry": [
                    {"ErrorEquals": ["SendThrottled"], "IntervalSeconds": 30, "MaxAttempts": 8, "BackoffRate": 2},
                    _LAMBDA_RETRY,
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
                "TimeoutSeconds": MAX_WAIT_S,
                "Retry": [_LAMBDA_RETRY],
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
