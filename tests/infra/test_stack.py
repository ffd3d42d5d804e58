"""The synthesized template: properties that matter, cdk-nag and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from nudgeloop.resources import catalog

pytestmark = pytest.mark.slow


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def assertions(template: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template)


def test_cdk_nag_reports_no_unacknowledged_errors(synth: dict[str, Any]) -> None:
    assert synth["returncode"] == 0, synth["stderr"][-4000:]
    assert "AwsSolutions" not in synth["stderr"].replace("AwsSolutionsChecks", "")


def test_cfn_lint_is_clean(synth: dict[str, Any], template: dict[str, Any]) -> None:
    from nudgeloop_infra import lint  # what `make lint` runs: cfn-lint with the serverless rules

    proc = lint.cfn_lint(synth["out"] / "Nudgeloop.template.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tables_are_encrypted_recoverable_and_on_demand(template: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    tables = resources(template, "AWS::DynamoDB::GlobalTable")
    assert len(tables) == len(catalog().tables)
    for table in tables.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"]["SSEEnabled"] is True
        replica = props["Replicas"][0]
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert replica["DeletionProtectionEnabled"] is True
    assertions(template).has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TableName": "nudgeloop-customers",
            "GlobalSecondaryIndexes": [
                Match.object_like({"IndexName": "by_review", "Projection": Match.object_like({"ProjectionType": "INCLUDE"})})
            ],
        },
    )


def test_the_suite_runs_on_the_python_the_functions_are_deployed_with(template: dict[str, Any]) -> None:
    import sys

    from nudgeloop.resources import LAMBDA_PYTHON

    runtimes = {
        v["Properties"]["Runtime"]
        for v in resources(template, "AWS::Lambda::Function").values()
        if "FunctionName" in v["Properties"]
    }
    assert runtimes == {f"python{LAMBDA_PYTHON}"}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == LAMBDA_PYTHON, "run the suite with `make test`"


def test_functions_run_on_arm_untraced_by_default_with_own_log_groups(template: dict[str, Any]) -> None:
    functions = {
        v["Properties"]["FunctionName"]: v["Properties"]
        for v in resources(template, "AWS::Lambda::Function").values()
        if "FunctionName" in v["Properties"]  # not CDK's own deploy-time custom resources
    }
    assert set(functions) >= {
        "nudgeloop-ingest-api",
        "nudgeloop-send",
        "nudgeloop-journey-plan",
        "nudgeloop-segment-daily",
    }
    roles = set()
    for name, props in functions.items():
        assert props["Architectures"] == ["arm64"], name
        # tracing is a setting, off by default (tests/infra/test_costs.py synthesizes it on)
        assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}, name
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true", name
        assert "LoggingConfig" in props, name
        roles.add(json.dumps(props["Role"]))
    assert len(roles) == len(functions)  # one least-privilege role per function
    groups = {
        v["Properties"]["LogGroupName"]
        for v in resources(template, "AWS::Logs::LogGroup").values()
        if "LogGroupName" in v["Properties"]
    }
    assert {f"/aws/lambda/{n}" for n in functions} <= groups


def test_events_stream_feeds_the_processor_with_retries_and_a_dlq(template: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    assertions(template).has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {"TableName": "nudgeloop-events", "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}},
    )
    assertions(template).has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FilterCriteria": {"Filters": [{"Pattern": '{"eventName":["INSERT"]}'}]},
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
            "StartingPosition": "TRIM_HORIZON",
        },
    )


def test_queues_have_dlqs_and_encryption(template: dict[str, Any]) -> None:
    queues = {v["Properties"].get("QueueName"): v["Properties"] for v in resources(template, "AWS::SQS::Queue").values()}
    for name in ("nudgeloop-feedback", "nudgeloop-trigger", "nudgeloop-templates"):
        assert queues[name]["RedrivePolicy"]["maxReceiveCount"] == 5
        assert queues[name]["SqsManagedSseEnabled"] is True
    # imports and confirmations invoke their functions directly (no idle polling)
    assert not {"nudgeloop-imports", "nudgeloop-confirmations"} & set(queues)
    mappings = resources(template, "AWS::Lambda::EventSourceMapping")
    # three queues, the events stream's two consumers (process, archive), the customers stream's one
    assert len(mappings) == 6
    assert all(m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values())
    assert "nudgeloop-failures" in set(queues)  # the streams' on-failure destination, shared
    # The step counts skip a retried batch by its first record: a split batch would be counted twice.
    bisect = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"].get("BisectBatchOnFunctionError") for m in mappings.values()
    }
    assert [v for k, v in bisect.items() if k.startswith("Functionssegmentcounts")] == [False]
    assert [v for k, v in bisect.items() if k.startswith("Functionsingestprocess")] == [True]
    # the events' consumer takes four batches of a shard at once (each customer's records in order)
    parallel = {m["Properties"]["FunctionName"]["Ref"]: m["Properties"].get("ParallelizationFactor") for m in mappings.values()}
    assert [v for k, v in parallel.items() if k.startswith("Functionsingestprocess")] == [4]
    assert {v for k, v in parallel.items() if not k.startswith("Functionsingestprocess")} <= {None, 1}


def test_api_routes_require_keys_except_unsubscribe(template: dict[str, Any]) -> None:
    methods = resources(template, "AWS::ApiGateway::Method")
    keyed = {(m["Properties"]["HttpMethod"], m["Properties"].get("ApiKeyRequired", False)) for m in methods.values()}
    assert ("POST", True) in keyed and ("GET", False) in keyed
    assert len(resources(template, "AWS::ApiGateway::UsagePlan")) == 1


def test_ses_configuration_set_publishes_events_to_eventbridge(template: dict[str, Any]) -> None:
    assertions(template).has_resource_properties("AWS::SES::ConfigurationSet", {"Name": "nudgeloop-mail"})
    dest = next(iter(resources(template, "AWS::SES::ConfigurationSetEventDestination").values()))["Properties"][
        "EventDestination"
    ]
    assert "EventBridgeDestination" in dest
    assert {"DELIVERY", "OPEN", "CLICK", "BOUNCE", "COMPLAINT"} <= set(dest["MatchingEventTypes"]) | {
        t.upper() for t in dest["MatchingEventTypes"]
    }


def test_state_machine_is_standard_logged_and_untraced_by_default(template: dict[str, Any]) -> None:
    sm = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert sm["StateMachineType"] == "STANDARD"
    assert sm["TracingConfiguration"] == {"Enabled": False}
    assert sm["LoggingConfiguration"]["Level"] == "ALL"


def test_dlq_alarms_exist_for_every_queue(template: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    dlq_alarms = [a for a in alarms if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    alarmed = {json.dumps(d["Value"]) for a in dlq_alarms for d in a["Dimensions"]}
    dlqs = {
        k
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::SQS::Queue" and v["Properties"].get("QueueName", "").endswith(("dlq", "-failures"))
    }
    # one per queue; one shared by the table streams, schedules, async invocations and bus rules
    cat = catalog()
    assert len(dlqs) == len(cat.queues) + 1
    assert {json.dumps({"Fn::GetAtt": [d, "QueueName"]}) for d in dlqs} == alarmed
    assert all(a["Threshold"] == 0 and a["ComparisonOperator"] == "GreaterThanThreshold" for a in dlq_alarms)


def test_an_invalid_staircase_fails_the_synth(tmp_path) -> None:
    import os

    from tests.infra.conftest import ROOT

    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path / "out"),
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "CDK_CONTEXT_JSON": json.dumps({"staircase": {"steps": [{"name": "only", "when": {"no_orders": True}}]}}),
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "infra/app.py")], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode != 0
    assert "last step must have no condition" in proc.stderr


def test_the_staircase_definition_reaches_the_functions(template: dict[str, Any]) -> None:
    envs = [
        f["Properties"]["Environment"]["Variables"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if "Environment" in f["Properties"]
    ]
    assert {e["NL_STAIRCASE"] for e in envs if "NL_STAIRCASE" in e} == {"{}"}


def test_import_files_invoke_their_function_and_uploaded_templates_and_campaigns_notify_their_queue(
    template: dict[str, Any],
) -> None:
    notifications = resources(template, "Custom::S3BucketNotifications")
    assert len(notifications) == 3  # the data bucket (imports), the templates and the campaigns bucket
    kinds = ("LambdaFunctionConfigurations", "QueueConfigurations")
    filters = sorted(
        tuple(sorted((r["Name"].lower(), r["Value"]) for r in q["Filter"]["Key"]["FilterRules"]))
        for n in notifications.values()
        for kind in kinds
        for q in n["Properties"]["NotificationConfiguration"].get(kind, [])
    )
    assert filters == [
        (("prefix", "campaigns/"), ("suffix", ".yaml")),
        (("prefix", "campaigns/"), ("suffix", ".yml")),
        (("prefix", "imports/"), ("suffix", ".csv")),
        (("prefix", "imports/"), ("suffix", ".jsonl")),
        (("prefix", "templates/"), ("suffix", ".html")),
        (("prefix", "templates/"), ("suffix", ".mjml")),
        (("prefix", "templates/"), ("suffix", ".txt")),
    ]
    functions = {k: v["Properties"].get("FunctionName") for k, v in resources(template, "AWS::Lambda::Function").items()}
    for n in notifications.values():
        found = n["Properties"]["NotificationConfiguration"]
        assert all(q["Events"] == ["s3:ObjectCreated:*"] for kind in kinds for q in found.get(kind, []))
        targets = {functions[q["LambdaFunctionArn"]["Fn::GetAtt"][0]] for q in found.get(kinds[0], [])}
        assert targets <= {"nudgeloop-ingest-import"}
    configs = {c["Properties"]["FunctionName"]["Ref"] for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()}
    for key in ("ingest_import", "send_confirmation"):  # retried, then kept
        assert any(functions[c] == catalog().function(key).name for c in configs), key


def test_the_webhook_secret_is_a_parameter_only_the_api_may_read(template: dict[str, Any]) -> None:
    secrets = [s["Properties"]["Name"] for s in resources(template, "AWS::SecretsManager::Secret").values()]
    assert secrets == ["nudgeloop/signing-key"]  # the Shopify secret is an SSM SecureString the operator sets
    readers = [
        json.dumps(p["Properties"]["PolicyDocument"])
        for p in resources(template, "AWS::IAM::Policy").values()
        if "ssm:GetParameter" in json.dumps(p["Properties"]["PolicyDocument"])
    ]
    assert len(readers) == 1 and ":parameter/nudgeloop/shopify-webhook-secret" in readers[0]


def test_marketing_and_service_mail_have_their_own_configuration_sets_and_only_marketing_can_be_paused(
    template: dict[str, Any],
) -> None:
    names = {c["Properties"]["Name"] for c in resources(template, "AWS::SES::ConfigurationSet").values()}
    assert names == {"nudgeloop-mail", "nudgeloop-service"}
    assert len(resources(template, "AWS::SES::ConfigurationSetEventDestination")) == 2
    policies = json.dumps([p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::IAM::Policy").values()])
    assert policies.count("ses:PutConfigurationSetSendingOptions") == 1
    assert "configuration-set/nudgeloop-mail" in policies


def test_alarms_cover_the_circuit_breaker_ses_reputation_and_anomalies_and_a_dashboard_shows_the_loop(
    full_template: dict[str, Any],
) -> None:
    template = full_template  # monitoring=full (the default, minimal: tests/infra/test_costs.py)
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    by_metric = {a.get("MetricName"): a for a in alarms if a.get("MetricName")}
    assert by_metric["MarketingPaused"]["Threshold"] == 0
    assert by_metric["Reputation.BounceRate"]["Threshold"] == 0.025
    assert by_metric["Reputation.ComplaintRate"]["Threshold"] == 0.0005
    anomalies = [a for a in alarms if a.get("ThresholdMetricId")]
    watched = {m["MetricStat"]["Metric"]["MetricName"] for a in anomalies for m in a["Metrics"] if "MetricStat" in m}
    assert watched == {"EventsAccepted", "Mail_sent"}
    assert all(a["ComparisonOperator"] == "LessThanLowerOrGreaterThanUpperThreshold" for a in anomalies)
    body = json.dumps(next(iter(resources(template, "AWS::CloudWatch::Dashboard").values()))["Properties"]["DashboardBody"])
    for title in ("Events in", "Staircase", "Journeys", "Mails", "Feedback", "Errors"):
        assert title in body


def test_the_analytics_job_runs_daily_and_may_only_write_its_own_prefix(template: dict[str, Any]) -> None:
    rules = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()]
    assert any(r.get("ScheduleExpression") == "cron(45 4 * * ? *)" for r in rules)
    policies = json.dumps([p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::IAM::Policy").values()])
    assert "/analytics/*" in policies


def test_async_invocations_end_in_an_alarmed_failure_queue_with_deliberate_retries(template: dict[str, Any]) -> None:
    cat = catalog()
    queues = {k: v["Properties"]["QueueName"] for k, v in resources(template, "AWS::SQS::Queue").items()}
    by_queue = {}
    for config in resources(template, "AWS::Lambda::EventInvokeConfig").values():
        props = config["Properties"]
        by_queue[queues[props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]]] = props
    functions = {
        k: v["Properties"]["FunctionName"]
        for k, v in resources(template, "AWS::Lambda::Function").items()
        if "FunctionName" in v["Properties"]
    }
    configs = {
        functions[c["Properties"]["FunctionName"]["Ref"]]: c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(by_queue) == {"nudgeloop-failures"}  # every one ends in the shared failures queue
    for spec in (f for f in cat.functions if f.schedule):
        props = configs[spec.name]
        assert props["MaximumRetryAttempts"] == spec.async_retries
        assert props["MaximumEventAgeInSeconds"] == spec.async_max_age_s
    assert configs["nudgeloop-journey-wake"]["MaximumRetryAttempts"] == 0  # the next sweep takes over


def test_queues_outlast_six_times_their_consumers_timeout_and_consumers_are_bounded(template: dict[str, Any]) -> None:
    cat = catalog()
    queues = {k: v["Properties"] for k, v in resources(template, "AWS::SQS::Queue").items()}
    mappings = [m["Properties"] for m in resources(template, "AWS::Lambda::EventSourceMapping").values()]
    for fn in (f for f in cat.functions if f.queue_key):
        spec = cat.queue(fn.queue_key)
        logical, props = next((k, p) for k, p in queues.items() if p.get("QueueName") == spec.name)
        assert props["VisibilityTimeout"] >= 6 * fn.timeout_s + spec.batching_window_s, spec.name
        mapping = next(m for m in mappings if m.get("EventSourceArn") == {"Fn::GetAtt": [logical, "Arn"]})
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == spec.max_concurrency
    functions = {
        v["Properties"]["FunctionName"]: v["Properties"]
        for v in resources(template, "AWS::Lambda::Function").values()
        if "FunctionName" in v["Properties"]
    }
    assert functions["nudgeloop-journey-wake"]["ReservedConcurrentExecutions"] == 1
    assert functions["nudgeloop-send"]["ReservedConcurrentExecutions"] == 10
    assert "ReservedConcurrentExecutions" not in functions["nudgeloop-ingest-api"]


def test_journeys_that_fail_time_out_or_are_throttled_raise_alarms_and_log_under_vendedlogs(
    template: dict[str, Any], full_template: dict[str, Any]
) -> None:
    def states(of: dict[str, Any]) -> set[str]:
        alarms = [a["Properties"] for a in resources(of, "AWS::CloudWatch::Alarm").values()]
        return {a["MetricName"] for a in alarms if a.get("Namespace") == "AWS/States"}

    assert states(full_template) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled"}
    assert states(template) == {"ExecutionsFailed"}  # minimal: a failed journey is never unnoticed
    groups = [g["Properties"].get("LogGroupName") for g in resources(template, "AWS::Logs::LogGroup").values()]
    assert "/aws/vendedlogs/states/nudgeloop-journey" in groups


def test_routes_without_an_api_key_have_their_own_throttling(template: dict[str, Any]) -> None:
    stage = next(iter(resources(template, "AWS::ApiGateway::Stage").values()))["Properties"]
    limits = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["MethodSettings"] if m.get("ThrottlingRateLimit")}
    keyless = [r for r in catalog().routes if not r.api_key_required]
    assert keyless
    for route in keyless:
        setting = limits[("/" + route.path.replace("/", "~1"), route.method)]  # how API Gateway escapes paths
        assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (route.rate_limit, route.burst_limit)
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] == 200  # every other route: the stage's limit


def test_every_function_is_deployed_with_what_its_cold_start_requires(template: dict[str, Any]) -> None:
    """``runtime.boot`` refuses to start without the settings its catalog entry passes it: the
    deployed environment must carry each of them (the local runtime sees one environment for all)."""
    from nudgeloop.config import ENV_PREFIX
    from nudgeloop.resources import catalog
    from nudgeloop.runtime import needs

    deployed = {
        f["Properties"].get("FunctionName"): f["Properties"].get("Environment", {}).get("Variables", {})
        for f in resources(template, "AWS::Lambda::Function").values()
    }
    checked = 0
    for spec in catalog("nudgeloop").functions:
        variables = deployed[spec.name]
        for name in needs(spec):
            value = variables.get(ENV_PREFIX + name.upper())
            assert value not in (None, ""), (spec.name, name)
            checked += 1
    assert checked > 50


def test_the_audience_tables_have_a_database_an_enforcing_workgroup_and_expiring_objects(template: dict[str, Any]) -> None:
    cat = catalog()
    databases = [r["Properties"]["DatabaseInput"]["Name"] for r in resources(template, "AWS::Glue::Database").values()]
    assert databases == [cat.audience_database]
    (group,) = [r["Properties"] for r in resources(template, "AWS::Athena::WorkGroup").values()]
    config = group["WorkGroupConfiguration"]
    assert group["Name"] == cat.audience_workgroup and config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10**12
    assert "athena-results/" in json.dumps(config["ResultConfiguration"]["OutputLocation"])
    rules = {
        rule["Prefix"]: rule
        for bucket in resources(template, "AWS::S3::Bucket").values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if "Prefix" in rule
    }
    for expiry in cat.expirations:
        assert rules[expiry.prefix]["ExpirationInDays"] == expiry.days
        assert rules[expiry.prefix]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    snapshot = next(
        r["Properties"]
        for r in resources(template, "AWS::Lambda::Function").values()
        if r["Properties"].get("FunctionName") == "nudgeloop-audience-snapshot"
    )
    assert snapshot["Timeout"] == 900


def _lifecycle(template: dict[str, Any]) -> dict[str, int]:
    return {
        rule["Prefix"]: rule["ExpirationInDays"]
        for bucket in resources(template, "AWS::S3::Bucket").values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if "Prefix" in rule and "ExpirationInDays" in rule
    }


def test_retention_of_the_archives_is_configurable_with_documented_defaults(
    template: dict[str, Any], full_template: dict[str, Any]
) -> None:
    from nudgeloop.config import env_name
    from nudgeloop.layout import ARCHIVE_PREFIX, AUDIENCE_EXPORTS_PREFIX, PUBLICATIONS_PREFIX, SENT_PREFIX
    from nudgeloop.specs import Retention

    default = _lifecycle(template)
    assert default[SENT_PREFIX] == 400 and ARCHIVE_PREFIX not in default  # the raw archive: kept until deleted
    assert (default[AUDIENCE_EXPORTS_PREFIX], default[PUBLICATIONS_PREFIX]) == (7, 30)
    chosen = _lifecycle(full_template)  # -c raw_archive_days=730 -c sent_mail_days=0 -c audience_export_days=2 ...
    assert chosen[ARCHIVE_PREFIX] == 730 and SENT_PREFIX not in chosen
    assert (chosen[AUDIENCE_EXPORTS_PREFIX], chosen[PUBLICATIONS_PREFIX]) == (2, 14)
    # an export's record is kept as long as its file: the functions that write one are told
    env = {
        r["Properties"]["FunctionName"]: r["Properties"]["Environment"]["Variables"]
        for r in resources(full_template, "AWS::Lambda::Function").values()
        if "FunctionName" in r["Properties"]
    }
    days = {name: values.get(env_name("audience_export_days")) for name, values in env.items()}
    assert {n: d for n, d in days.items() if d is not None} == {
        f"nudgeloop-{n}": "2" for n in ("ingest-api", "audience-snapshot", "audience-export")
    }
    with pytest.raises(ValueError, match="raw_archive_days"):
        Retention(raw_archive_days=-1)
    with pytest.raises(ValueError, match="audience_export_days"):
        Retention(audience_export_days=0)  # a copy always expires


def test_waf_is_optional_and_limits_each_client_more_tightly_on_the_keyless_routes(
    template: dict[str, Any], full_template: dict[str, Any]
) -> None:
    from nudgeloop_infra.constructs.protection import ALL_PER_IP, KEYLESS_PER_IP

    assert resources(template, "AWS::WAFv2::WebACL") == {}
    (acl,) = [r["Properties"] for r in resources(full_template, "AWS::WAFv2::WebACL").values()]
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert set(rules) == {"ip-reputation", "keyless-per-ip", "all-per-ip"}
    assert rules["all-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == ALL_PER_IP
    keyless = rules["keyless-per-ip"]["Statement"]["RateBasedStatement"]
    assert keyless["Limit"] == KEYLESS_PER_IP
    paths = {s["ByteMatchStatement"]["SearchString"] for s in keyless["ScopeDownStatement"]["OrStatement"]["Statements"]}
    assert paths == {r.path for r in catalog().routes if not r.api_key_required}
    (association,) = [r["Properties"] for r in resources(full_template, "AWS::WAFv2::WebACLAssociation").values()]
    assert "Stage" in json.dumps(association["ResourceArn"]) or "stages" in json.dumps(association["ResourceArn"])


def test_a_customer_managed_key_is_optional_and_encrypts_every_store_of_customer_data(
    template: dict[str, Any], kms_template: dict[str, Any]
) -> None:
    assert resources(template, "AWS::KMS::Key") == {}
    (key_id, key), *more = resources(kms_template, "AWS::KMS::Key").items()
    assert not more and key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    arn = {"Fn::GetAtt": [key_id, "Arn"]}
    tables = resources(kms_template, "AWS::DynamoDB::GlobalTable").values()
    assert len(tables) == len(catalog().tables)
    for table in tables:
        props = table["Properties"]
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
        assert [r["SSESpecification"] for r in props["Replicas"]] == [{"KMSMasterKeyId": arn}]
    buckets = {k: v["Properties"] for k, v in resources(kms_template, "AWS::S3::Bucket").items()}
    for name, props in buckets.items():
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if "AccessLogs" in name:  # S3 delivers server access logs only to an SSE-S3 bucket
            assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        else:
            by_key = {"KMSMasterKeyID": arn, "SSEAlgorithm": "aws:kms"}
            assert rule == {"BucketKeyEnabled": True, "ServerSideEncryptionByDefault": by_key}
    queues = {v["Properties"]["QueueName"]: v["Properties"] for v in resources(kms_template, "AWS::SQS::Queue").values()}
    notified = {catalog().queue(n.queue_key).name for n in catalog().notifications if n.queue_key}
    for name, props in queues.items():
        assert props.get("KmsMasterKeyId") == (None if name in notified else arn), name
        assert (props.get("SqsManagedSseEnabled") is True) == (name in notified), name
    (group,) = resources(kms_template, "AWS::Athena::WorkGroup").values()
    encryption = group["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {"EncryptionOption": "SSE_KMS", "KmsKey": arn}
    # every function's role may use the key: each reads or writes a table, an object or a message
    policies = [p["Properties"] for p in resources(kms_template, "AWS::IAM::Policy").values()]
    roles = resources(kms_template, "AWS::IAM::Role")
    for spec in catalog().functions:
        role = next(k for k in roles if k.startswith(f"Functions{spec.key.replace('_', '')}Role"))
        statements = [s for p in policies if {"Ref": role} in p["Roles"] for s in p["PolicyDocument"]["Statement"]]
        actions = [[s["Action"]] if isinstance(s["Action"], str) else s["Action"] for s in statements if s["Resource"] == arn]
        on_key = {a for listed in actions for a in listed}
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= on_key, spec.key  # CDK merges statements of one resource
