"""Response management: the HTTP API, the ingest queue and its processor, SES feedback intake,
a person's erasure."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from constructs import Construct

from nudgeloop.domain import access
from nudgeloop.specs import Catalog, usage_plan_name
from nudgeloop_infra.nag import acknowledge, untraced

from .data import Data
from .functions import FunctionFactory


class IngestApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        functions: FunctionFactory,
        data: Data,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        # Each function's permissions come from the catalog (nudgeloop.grants.GRANTS).
        api_fn = functions.function("ingest_api")
        functions.function("ingest_process")
        functions.stream_source("ingest_process")
        functions.function("ingest_archive")
        functions.stream_source("ingest_archive")
        functions.function("ingest_import")  # with its S3 notifications (FunctionFactory.function)

        functions.function("ingest_feedback")
        # a person's erasure stops their journeys: the state machine by its name (the journeys
        # construct makes it; naming it keeps the two constructs free of a dependency cycle)
        journeys = cdk.Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=catalog.state_machine_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        functions.function("erasure", {"state_machine_arn": journeys})
        functions.rule(self, "SesEventsRule", "ses_events", events.EventBus.from_event_bus_name(self, "DefaultBus", "default"))

        access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{catalog.prefix}-api",
            description="Nudgeloop HTTP API",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name="prod",
                tracing_enabled=functions.tracing,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=False,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                throttling_rate_limit=200,
                throttling_burst_limit=400,
                # routes without an API key (no usage plan) get limits of their own
                method_options={
                    f"{route.path}/{route.method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=route.rate_limit, throttling_burst_limit=route.burst_limit
                    )
                    for route in catalog.routes
                    if route.rate_limit is not None
                },
            ),
        )
        if not functions.tracing:
            untraced(self.api.deployment_stage)
        integration = apigw.LambdaIntegration(api_fn)
        for route in catalog.routes:
            resource = self.api.root.resource_for_path(route.path)
            resource.add_method(route.method, integration, api_key_required=route.api_key_required)
        # the first admin key (its scope a tag of the key, domain/access.py); others: POST /v1/keys
        self.api_key = self.api.add_api_key("ApiKey", api_key_name=f"{catalog.prefix}-default")
        cdk.Tags.of(self.api_key).add(access.SCOPE_TAG, access.ADMIN)
        cdk.Tags.of(self.api_key).add(access.STACK_TAG, catalog.prefix)
        plan = self.api.add_usage_plan(
            "UsagePlan",
            name=usage_plan_name(catalog.prefix),
            throttle=apigw.ThrottleSettings(rate_limit=100, burst_limit=200),
        )
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)
        acknowledge(
            self.api,
            {
                "AwsSolutions-APIG2": "Requests are validated by the handler's models so that every rejection names the field.",
                "AwsSolutions-APIG3": "WAF is optional (context waf=true: constructs/protection.py, $8 a month "
                "plus requests, docs/costs.md); without it each keyless route has its own throttling.",
                "AwsSolutions-APIG4": "Webshops authenticate with API keys (usage plan); unsubscribe links "
                "authenticate with signed tokens.",
                "AwsSolutions-COG4": "No end-user pool: machine clients use API keys, recipients use signed tokens.",
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": "API Gateway's account-level logging role uses AWS's managed "
                "push-to-CloudWatch policy, as AWS documents it.",
            },
        )
        self.function = api_fn
        cdk.Tags.of(self).add("nudgeloop:concern", "ingest")
