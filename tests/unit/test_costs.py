"""The cost model (cli/nudgeloop_cli/costs): every figure it multiplies comes from its data files
(the benches' measured units, the synthesized inventory, the price list), and the sums are right."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest


def _data() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from nudgeloop_cli.costs.model import load

    return load("units.json"), load("prices.json"), load("inventory.json")


def _line(lines: list[Any], service: str, item: str) -> Any:
    return next(x for x in lines if x.service == service and x.item.startswith(item))


def test_units_are_the_benchs_own_record() -> None:
    units, _prices, _inventory = _data()
    assert units["measured"]["command"].startswith(".venv/bin/python bench/units.py ")
    from nudgeloop.resources import catalog

    keys = {f.key for f in catalog().functions}
    assert set(units["functions"]) | set(units["not_modelled"]) <= keys
    assert {"ingest_api", "ingest_process", "send", "journey_plan", "segment_daily"} <= set(units["functions"])


def test_every_unit_figure_reaches_the_estimate_in_proportion() -> None:
    """Change one measured figure: the line it feeds moves by exactly that much (nothing restated)."""
    from nudgeloop_cli.costs.model import Usage, estimate

    units, prices, inventory = _data()
    usage = Usage(customers=1000, events_per_day=1000, mails_per_month=5000)
    base = estimate(usage, units, prices, inventory)
    bumped = copy.deepcopy(units)
    bumped["functions"]["ingest_process"]["write_units"] += 1.0
    events = 1000 * prices["assumptions"]["days_per_month"]
    after = estimate(usage, bumped, prices, inventory)
    grew = _line(after, "DynamoDB", "write").quantity - _line(base, "DynamoDB", "write").quantity
    assert grew == pytest.approx(events)
    bumped = copy.deepcopy(units)
    bumped["journey"]["transitions"] *= 2
    doubled = _line(estimate(usage, bumped, prices, inventory), "Step Functions", "state").usd
    assert doubled == pytest.approx(2 * _line(base, "Step Functions", "state").usd)
    cheaper = copy.deepcopy(prices)
    cheaper["prices"]["ses_per_thousand_emails"] = 0.05
    assert _line(estimate(usage, units, cheaper, inventory), "SES", "emails").usd == pytest.approx(5000 * 0.05 / 1000)


def test_idle_is_the_inventory_at_list_prices_and_nothing_grows_with_use() -> None:
    from nudgeloop_cli.costs.model import Usage, by_service, estimate, total

    units, prices, inventory = _data()
    idle = estimate(Usage(customers=0, events_per_day=0, mails_per_month=0), units, prices, inventory)
    p, fixed = prices["prices"], inventory["minimal"]
    assert _line(idle, "CloudWatch", "alarms").usd == pytest.approx(
        fixed["alarm_metrics"] * p["cloudwatch_alarm_per_metric_month"]
    )
    assert _line(idle, "Secrets Manager", "secrets").usd == pytest.approx(fixed["secrets"] * p["secretsmanager_per_secret_month"])
    polls = fixed["sqs_event_source_mappings"] * prices["assumptions"]["sqs_idle_receives_per_queue_month"]
    assert _line(idle, "SQS", "receives").quantity == polls
    assert "SES" not in by_service(idle) and "Step Functions" not in by_service(idle) and "API Gateway" not in by_service(idle)
    full = estimate(Usage(0, 0, 0, monitoring="full"), units, prices, inventory)
    assert total(full) - total(idle) == pytest.approx(
        (inventory["full"]["alarm_metrics"] - fixed["alarm_metrics"]) * p["cloudwatch_alarm_per_metric_month"]
        + inventory["full"]["dashboards"] * p["cloudwatch_dashboard_per_month"]
    )


def test_use_scales_the_bill_and_tracing_adds_xray() -> None:
    from nudgeloop_cli.costs.model import Usage, by_service, estimate, total

    small = estimate(Usage(customers=5000, events_per_day=200, mails_per_month=10_000))
    ten = estimate(Usage(customers=50_000, events_per_day=2000, mails_per_month=100_000))
    assert _line(ten, "SES", "emails").usd == pytest.approx(10 * _line(small, "SES", "emails").usd)
    assert _line(ten, "API Gateway", "REST").quantity == pytest.approx(10 * _line(small, "API Gateway", "REST").quantity)
    assert total(small) < total(ten) < 10 * total(small)  # the fixed part does not grow
    batched = estimate(Usage(customers=5000, events_per_day=200, mails_per_month=10_000, events_per_request=100))
    assert _line(batched, "API Gateway", "REST").quantity == pytest.approx(_line(small, "API Gateway", "REST").quantity / 100)
    traced = estimate(Usage(customers=5000, events_per_day=200, mails_per_month=10_000, tracing=True))
    assert "X-Ray" in by_service(traced) and "X-Ray" not in by_service(small)
    with pytest.raises(ValueError, match="monitoring"):
        Usage(1, 1, 1, monitoring="loud")


def test_audience_runs_cost_at_least_athenas_minimum_scan() -> None:
    from nudgeloop_cli.costs.model import Usage, estimate

    _units, prices, _inventory = _data()
    lines = estimate(Usage(customers=10, events_per_day=1, mails_per_month=0, audience_runs_per_day=1))
    floor_tb = prices["prices"]["athena_minimum_mb_per_query"] / 1024**2
    assert _line(lines, "Athena", "data scanned by audience runs").quantity == pytest.approx(
        floor_tb * prices["assumptions"]["days_per_month"]
    )
    # the daily snapshot's CTAS (one per audience table) are each billed at least the minimum too
    from nudgeloop.domain import audience_sources

    ctas = len(audience_sources.order())
    assert ctas >= 5
    snapshot = _line(lines, "Athena", "data scanned by the daily audience snapshot").quantity
    assert snapshot == pytest.approx(ctas * floor_tb * prices["assumptions"]["days_per_month"])


def test_the_command_prints_the_lines_and_their_total() -> None:
    from typer.testing import CliRunner

    from nudgeloop_cli.costs.model import Usage, estimate, total
    from nudgeloop_cli.main import app

    args = ["cost", "--customers", "5000", "--events-per-day", "200", "--mails-per-month", "10000"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["total_usd"] == round(total(estimate(Usage(5000, 200, 10_000))), 2)
    assert body["prices"]["region"] == "eu-west-1"
    table = CliRunner().invoke(app, args)
    assert "total a month" in table.output and f"{body['total_usd']:.2f}" in table.output
    wrong = CliRunner().invoke(app, [*args, "--monitoring", "loud"])
    assert wrong.exit_code == 2 and "minimal" in wrong.output


def test_minimal_monitoring_publishes_only_the_alarmed_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    from nudgeloop.observability import ALARMED_METRICS, MONITORING_ENV, LevelledMetrics

    for level, kept in (("minimal", {"SendsInDoubt"}), ("full", {"SendsInDoubt", "EventsAccepted"})):
        monkeypatch.setenv(MONITORING_ENV, level)
        metrics = LevelledMetrics(namespace="Test", service="test")
        metrics.add_metric(name="SendsInDoubt", unit="Count", value=1)
        metrics.add_metric(name="EventsAccepted", unit="Count", value=1)
        assert set(metrics.metric_set) == kept
        metrics.clear_metrics()
    assert "SendsInDoubt" in ALARMED_METRICS and "EventsAccepted" not in ALARMED_METRICS


def test_minimal_monitoring_bills_fewer_metric_hours_than_full() -> None:
    from nudgeloop_cli.costs.model import Usage, estimate

    minimal = [x for x in estimate(Usage(5000, 200, 10_000)) if x.item.startswith("custom metrics")]
    full = _line(estimate(Usage(5000, 200, 10_000, monitoring="full")), "CloudWatch", "custom metrics")
    assert full.quantity > 10  # every metric published in most hours
    assert sum(x.quantity for x in minimal) < full.quantity / 10  # the alarmed ones only appear on failures
