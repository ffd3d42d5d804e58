"""The cost model's fixed part is the synthesized stack's (inventory.json), the idle
configuration ships without the optional alarms, and tracing is a setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.test_stack import resources

INVENTORY = Path(__file__).resolve().parents[2] / "cli" / "nudgeloop_cli" / "costs" / "inventory.json"


def test_the_cost_models_inventory_is_what_the_stack_synthesizes_at_each_level(
    template: dict[str, Any], full_template: dict[str, Any]
) -> None:
    from nudgeloop_infra.inventory import inventory

    committed = json.loads(INVENTORY.read_text())
    assert inventory(template) == committed["minimal"]  # run `python -m nudgeloop_infra.inventory --write`
    full = inventory(full_template)
    assert {k: v for k, v in full.items() if k != "functions_traced"} == {
        k: v for k, v in committed["full"].items() if k != "functions_traced"
    }
    assert full["functions_traced"] == full["functions"] - 1  # all but CDK's own deploy-time helper


def test_the_idle_configuration_ships_without_the_optional_alarms_or_a_dashboard(
    template: dict[str, Any], full_template: dict[str, Any]
) -> None:
    def alarmed(of: dict[str, Any]) -> set[str]:
        out = set()
        for alarm in (a["Properties"] for a in resources(of, "AWS::CloudWatch::Alarm").values()):
            if "MetricName" in alarm:
                dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
                out.add(f"{alarm['Namespace']}/{alarm['MetricName']}" + ("/fn" if "FunctionName" in dims else ""))
            else:
                out.add("anomaly")
        return out

    minimal, full = alarmed(template), alarmed(full_template)
    assert minimal == {
        "AWS/SQS/ApproximateNumberOfMessagesVisible",  # every dead-letter queue
        "Nudgeloop/SendsInDoubt",
        "Nudgeloop/MarketingPaused",
        "AWS/States/ExecutionsFailed",
    }
    assert full - minimal == {
        "AWS/Lambda/Errors/fn",
        "Nudgeloop/EventsFailed",
        "AWS/States/ExecutionsTimedOut",
        "AWS/States/ExecutionThrottled",
        "AWS/SES/Reputation.BounceRate",
        "AWS/SES/Reputation.ComplaintRate",
        "anomaly",
    }
    assert not resources(template, "AWS::CloudWatch::Dashboard")
    assert len(resources(full_template, "AWS::CloudWatch::Dashboard")) == 1
    dlq_alarms = [
        a for a in resources(template, "AWS::CloudWatch::Alarm").values() if a["Properties"].get("Namespace") == "AWS/SQS"
    ]
    dlqs = [q for q in resources(template, "AWS::SQS::Queue").values() if "RedrivePolicy" not in q["Properties"]]
    assert len(dlq_alarms) == len(dlqs)  # minimal still watches every dead-letter queue


def test_tracing_is_a_setting_that_reaches_the_api_functions_and_journeys(full_template: dict[str, Any]) -> None:
    functions = [
        f["Properties"] for f in resources(full_template, "AWS::Lambda::Function").values() if "FunctionName" in f["Properties"]
    ]
    assert functions and all(f["TracingConfig"] == {"Mode": "Active"} for f in functions)
    assert all("POWERTOOLS_TRACE_DISABLED" not in f["Environment"]["Variables"] for f in functions)
    stage = next(iter(resources(full_template, "AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["TracingEnabled"] is True
    machine = next(iter(resources(full_template, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_every_log_group_of_ours_keeps_logs_for_a_stated_time(template: dict[str, Any]) -> None:
    groups = [g["Properties"] for g in resources(template, "AWS::Logs::LogGroup").values()]
    assert groups and all(g["RetentionInDays"] in (30, 90) for g in groups)


def test_functions_publish_what_their_monitoring_level_alarms_on(template: dict[str, Any], full_template: dict[str, Any]) -> None:
    from nudgeloop.observability import ALARMED_METRICS, MONITORING_ENV

    for of, level in ((template, "minimal"), (full_template, "full")):
        found = resources(of, "AWS::Lambda::Function").values()
        functions = [f["Properties"] for f in found if "FunctionName" in f["Properties"]]
        assert all(f["Environment"]["Variables"][MONITORING_ENV] == level for f in functions)
    ours = [
        a["Properties"]["MetricName"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "Nudgeloop"
    ]
    assert ours and set(ours) <= ALARMED_METRICS  # minimal publishes only these: each alarm still sees its metric
