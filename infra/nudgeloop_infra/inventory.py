"""What the synthesized stack holds that is billed by the month whether or not it is used: the
fixed part of the cost model (`nudgeloop cost`, docs/costs.md), read from the template itself.

Usage: ``python -m nudgeloop_infra.inventory [--write]``: synthesizes the stack at each
monitoring level and prints (or writes to ``cli/nudgeloop_cli/costs/inventory.json``) its counts.
``tests/infra/test_costs.py`` checks the written file against a fresh synthesis.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from nudgeloop.observability import MONITORING_LEVELS
from nudgeloop_infra import lint

OUT = lint.ROOT / "cli" / "nudgeloop_cli" / "costs" / "inventory.json"


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def _alarm_metrics(alarm: dict[str, Any]) -> int:
    """Alarm metrics CloudWatch bills for one alarm: one for a metric, one per metric of a metric
    math expression, three for an anomaly detection band."""
    if "Metrics" not in alarm:
        return 1
    if any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in alarm["Metrics"]):
        return 3
    return sum(1 for m in alarm["Metrics"] if "MetricStat" in m)


def inventory(template: dict[str, Any]) -> dict[str, Any]:
    """The template's monthly-billed resources and what wakes it up when idle."""
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    mappings = _of_type(template, "AWS::Lambda::EventSourceMapping")
    # a queue's ARN is a Fn::GetAtt of an AWS::SQS::Queue; a table stream's names StreamArn
    sqs_mappings = [m for m in mappings if "StreamArn" not in json.dumps(m.get("EventSourceArn", ""))]
    functions = _of_type(template, "AWS::Lambda::Function")
    rules = _of_type(template, "AWS::Events::Rule")
    return {
        "alarms": len(alarms),
        "alarm_metrics": sum(_alarm_metrics(a) for a in alarms),
        "dashboards": len(_of_type(template, "AWS::CloudWatch::Dashboard")),
        "secrets": len(_of_type(template, "AWS::SecretsManager::Secret")),
        "sqs_event_source_mappings": len(sqs_mappings),
        "schedules": sorted(r["ScheduleExpression"] for r in rules if "ScheduleExpression" in r),
        "functions": len(functions),
        "functions_traced": sum(1 for f in functions if f.get("TracingConfig", {}).get("Mode") == "Active"),
        "log_groups": len(_of_type(template, "AWS::Logs::LogGroup")),
        "log_groups_without_retention": sum(1 for g in _of_type(template, "AWS::Logs::LogGroup") if "RetentionInDays" not in g),
        "tables_with_pitr": sum(
            1
            for t in _of_type(template, "AWS::DynamoDB::GlobalTable")
            if any(r.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") for r in t.get("Replicas", []))
        ),
    }


def synthesized(level: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        proc = lint.synthesize(Path(work), {"monitoring": level})
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-4000:])
        return inventory(json.loads(lint.template_path(Path(work)).read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    found = {level: synthesized(level) for level in MONITORING_LEVELS}
    text = json.dumps(found, indent=2) + "\n"
    sys.stdout.write(text)
    if args.write:
        OUT.write_text(text)


if __name__ == "__main__":
    main()
