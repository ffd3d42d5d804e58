"""Campaigns and journeys: the trigger, the generic journey state machine and its timers."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from nudgeloop.journey_definition import PLACEHOLDERS, definition
from nudgeloop.specs import Catalog
from nudgeloop_infra.nag import acknowledge, untraced

from .data import Data
from .functions import FunctionFactory


class Campaigns(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        functions: FunctionFactory,
        data: Data,
        bus: events.IEventBus,
        send_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        # Each function's permissions come from the catalog (nudgeloop.grants.GRANTS).
        plan_fn = functions.function("journey_plan")
        park_fn = functions.function("journey_park")

        # under /aws/vendedlogs/states/: the prefix whose resource policy size AWS advises for Step Functions
        log_group = logs.LogGroup(
            self,
            "JourneyLogs",
            log_group_name=f"/aws/vendedlogs/states/{catalog.state_machine_name}",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Journey",
            state_machine_name=catalog.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(definition())),
            definition_substitutions={ph: functions.functions[key].function_arn for ph, key in PLACEHOLDERS.items()},
            tracing_enabled=functions.tracing,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        if not functions.tracing:
            untraced(self.state_machine)
            acknowledge(
                self.state_machine,
                {
                    "AwsSolutions-SF2": "X-Ray tracing is a setting (context tracing=true), off by default: "
                    "traces are billed per recorded trace (docs/costs.md)."
                },
            )
        for fn in (plan_fn, park_fn, send_function):
            fn.grant_invoke(self.state_machine)

        functions.function("trigger_start", {"state_machine_arn": self.state_machine.state_machine_arn})
        functions.rule(self, "JourneyTriggersRule", "journey_triggers", bus)

        functions.function("journey_wake")
        cdk.Tags.of(self).add("nudgeloop:concern", "campaigns")
