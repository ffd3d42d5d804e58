"""What a deployed Nudgeloop stack costs a month, per service, at list prices (docs/costs.md).

Three data files, none restated here:

- ``units.json``: what one unit of use costs in requests, bytes and compute, per function
  (``bench/units.py --write`` measures it on the local runtime);
- ``inventory.json``: what the synthesized stack bills by the month (alarms, dashboards, secrets,
  queues polled, schedules), per monitoring level (``python -m nudgeloop_infra.inventory --write``);
- ``prices.json``: the list prices, their region and date, and the stated assumptions (an AWS
  call's round trip, the idle pollers of a queue).

``estimate(usage)`` multiplies them; the lines it returns add up to the month.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nudgeloop.observability import MONITORING_LEVELS, published

DATA = Path(__file__).resolve().parent
PUT_CLASS = ("PutObject", "ListObjectsV2", "CopyObject", "DeleteObject", "DeleteObjects")
GB = 1024**3
MONITORING = MONITORING_LEVELS  # the stack's monitoring levels (nudgeloop.observability)


@dataclass(frozen=True)
class Usage:
    customers: int
    events_per_day: float
    mails_per_month: float
    journeys_per_month: float | None = None  # default: as many as the mails need (units: mails per journey)
    audience_runs_per_day: float = 0.0
    events_per_request: float | None = None  # default: prices.json's assumption
    monitoring: str = "minimal"
    tracing: bool = False
    history_months: float = 12.0  # how much history the tables and the archive hold (storage)

    def __post_init__(self) -> None:
        if self.monitoring not in MONITORING:
            raise ValueError(f"monitoring {self.monitoring!r}: one of {', '.join(MONITORING)}")
        if min(self.customers, self.events_per_day, self.mails_per_month, self.audience_runs_per_day) < 0:
            raise ValueError("usage figures are at least 0")


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


class _Month:
    """Quantities of the month, by price key; turned into lines at the end."""

    def __init__(self, prices: dict[str, Any]) -> None:
        self.prices = prices["prices"]
        self.assume = prices["assumptions"]
        self.q: defaultdict[tuple[str, str, str, str], float] = defaultdict(float)  # (service, item, unit, price key)

    def add(self, service: str, item: str, unit: str, price: str, quantity: float) -> None:
        self.q[(service, item, unit, price)] += quantity

    def latency_ms(self, service: str) -> float:
        found = self.assume["call_latency_ms"]
        return float(found.get(service, found["default"]))

    def lines(self) -> list[Line]:
        per = {  # price key -> the quantity its price is for
            "per_million": 1e6,
            "per_thousand": 1e3,
            "per_10k": 1e4,
        }
        out = []
        for (service, item, unit, price), quantity in self.q.items():
            divisor = next((v for k, v in per.items() if k in price), 1.0)
            out.append(Line(service, item, quantity, unit, quantity * self.prices[price] / divisor))
        return sorted(out, key=lambda line: (line.service, -line.usd))


def _per_month(schedule: str, hours: float) -> float:
    """Runs a month of an EventBridge schedule expression (rate or cron as the stack uses them)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", schedule)
    if rate:
        every = int(rate[1]) * {"minute": 1, "hour": 60, "day": 1440}[rate[2].rstrip("s")]
        return hours * 60 / every
    fields = schedule.removeprefix("cron(").removesuffix(")").split()
    weekly = fields[4] not in ("*", "?")
    return hours / 24 / (7 if weekly else 1)


def drivers(usage: Usage, units: dict[str, Any], days: float) -> dict[str, float]:
    """The month's count of each unit the functions' use grows with."""
    journeys = usage.journeys_per_month
    if journeys is None:
        journeys = usage.mails_per_month / max(units["journey"]["mails"], 1e-9)
    return {
        "event": usage.events_per_day * days,
        "mail": usage.mails_per_month,
        "journey": journeys,
        "customer_day": usage.customers * days,
        "customer_week": usage.customers * days / 7,
    }


def estimate(
    usage: Usage,
    units: dict[str, Any] | None = None,
    prices: dict[str, Any] | None = None,
    inventory: dict[str, Any] | None = None,
) -> list[Line]:
    units = units or load("units.json")
    prices = prices or load("prices.json")
    fixed = (inventory or load("inventory.json"))[usage.monitoring]
    m = _Month(prices)
    hours, days = float(m.assume["hours_per_month"]), float(m.assume["days_per_month"])
    per_request = usage.events_per_request or float(m.assume["events_per_api_request"])
    count = drivers(usage, units, days)
    platform_log = float(m.assume["lambda_platform_log_bytes_per_invocation"])
    publications: defaultdict[str, float] = defaultdict(float)
    log_bytes = traces = sqs_batches = 0.0

    def invoked(fn: str, invocations: float, ms: float, memory_mb: int) -> None:
        nonlocal log_bytes, traces
        m.add("Lambda", "requests", "requests", "lambda_per_million_requests", invocations)
        m.add("Lambda", "compute (arm64)", "GB-s", "lambda_arm64_per_gb_second", ms / 1000 * memory_mb / 1024)
        log_bytes += invocations * platform_log
        traces += invocations if usage.tracing else 0.0

    for fn, f in units["functions"].items():
        n = count[f["per"]]
        invocations = f["invocations"] * n
        if fn == "ingest_api":  # one invocation per API request
            invocations = count["event"] / per_request
            m.add("API Gateway", "REST API requests", "requests", "apigateway_rest_per_million_requests", invocations)
        calls = {k: v * n for k, v in f["calls"].items()}
        ms = f["own_cpu_ms"] * n + sum(c * m.latency_ms(k.split(".")[0]) for k, c in calls.items())
        invoked(fn, invocations, ms, f["memory_mb"])
        m.add("DynamoDB", "write request units", "WRU", "dynamodb_per_million_write_units", f["write_units"] * n)
        m.add("DynamoDB", "read request units", "RRU", "dynamodb_per_million_read_units", f["read_units"] * n)
        m.add("EventBridge", "custom events", "events", "eventbridge_custom_events_per_million", f["put_events_entries"] * n)
        if f["sqs_messages"]:  # each message sent once; deleted a batch at a time
            m.add("SQS", "messages sent", "requests", "sqs_standard_per_million_requests", f["sqs_messages"] * n)
            sqs_batches += invocations
        for call, c in calls.items():
            service, operation = call.split(".")
            if service == "s3":
                key = "s3_put_copy_post_list_per_thousand" if operation in PUT_CLASS else "s3_get_per_thousand"
                m.add("S3", "PUT/LIST requests" if operation in PUT_CLASS else "GET requests", "requests", key, c)
            elif call == "sesv2.SendEmail":
                m.add("SES", "emails sent", "emails", "ses_per_thousand_emails", c)
            elif service == "secretsmanager":
                m.add("Secrets Manager", "API calls", "calls", "secretsmanager_per_10k_api_calls", c)
        log_bytes += f["log_bytes"] * n
        for metric, rate in f.get("metrics", {}).items():
            if published(metric, usage.monitoring):
                publications[metric] += rate * n

    m.add("SQS", "deletes (a batch each)", "requests", "sqs_standard_per_million_requests", sqs_batches)
    m.add(
        "SQS",
        "receives of the idle pollers (every queue a function consumes)",
        "requests",
        "sqs_standard_per_million_requests",
        fixed["sqs_event_source_mappings"] * float(m.assume["sqs_idle_receives_per_queue_month"]),
    )
    transitions = count["journey"] * units["journey"]["transitions"]
    m.add(
        "Step Functions",
        "state transitions (Standard)",
        "transitions",
        "stepfunctions_standard_per_thousand_transitions",
        transitions,
    )

    # the sweeps run whether or not anything is due: their empty runs are the idle wake-ups
    schedule = next(s for s in fixed["schedules"] if s.startswith("rate("))  # the sweep schedule, shared
    sweeps = _per_month(schedule, hours)
    for function, sweep in units["empty_sweeps"].items():
        sweep_ms = (sweep["cpu_s"] - sweep["sdk_cpu_s"]) * 1000 + sum(
            n * m.latency_ms(k.split(".")[0]) for k, n in sweep["calls"].items()
        )
        invoked(function, sweeps, sweeps * sweep_ms, int(sweep["memory_mb"]))
        m.add("DynamoDB", "read request units", "RRU", "dynamodb_per_million_read_units", sweeps * sweep["read_units"])
        log_bytes += sweeps * sweep["log_bytes"]
        for metric in sweep.get("metrics", []):
            if published(metric, usage.monitoring):
                publications[metric] += sweeps
    for cron in (s for s in fixed["schedules"] if s.startswith("cron(")):  # the jobs' runs, whatever the customers
        invoked("scheduled job", _per_month(cron, hours), 0.0, 128)

    # a custom metric costs for each hour it is published in (traffic spread evenly: an upper bound)
    metric_hours = sum(hours * (1 - math.exp(-p / hours)) for p in publications.values())
    metric = ("custom metrics (EMF), by the hours published", "metric-months", "cloudwatch_custom_metric_per_month")
    m.add("CloudWatch", *metric, metric_hours / hours)
    m.add("CloudWatch", "log ingestion", "GB", "cloudwatch_logs_ingestion_per_gb", log_bytes / GB)
    m.add("CloudWatch", "log storage (a month kept)", "GB-months", "cloudwatch_logs_storage_per_gb_month", log_bytes / GB)
    alarms = (f"alarms ({usage.monitoring})", "alarm metrics", "cloudwatch_alarm_per_metric_month")
    m.add("CloudWatch", *alarms, fixed["alarm_metrics"])
    m.add("CloudWatch", "dashboards", "dashboards", "cloudwatch_dashboard_per_month", fixed["dashboards"])
    m.add("Secrets Manager", "secrets", "secret-months", "secretsmanager_per_secret_month", fixed["secrets"])
    if usage.tracing:
        m.add("X-Ray", "traces recorded (every invocation: an upper bound)", "traces", "xray_per_million_traces_recorded", traces)

    _storage(m, usage, units, count, fixed)
    _audiences(m, usage, units, count, days)
    return [line for line in m.lines() if line.quantity > 0]


def _storage(m: _Month, usage: Usage, units: dict[str, Any], count: dict[str, float], fixed: dict[str, Any]) -> None:
    """What the tables and the archive hold after ``history_months`` of use."""
    stored = units["stored_bytes"]
    months = usage.history_months
    table_bytes = (
        stored["per_event"]["table:events"] * count["event"] * months
        + stored["per_mail"]["table:engine"] * count["mail"] * months
        + sum(stored["per_customer"].values()) * usage.customers
    )
    m.add("DynamoDB", f"storage ({months:g} months of history)", "GB-months", "dynamodb_storage_per_gb_month", table_bytes / GB)
    if fixed["tables_with_pitr"]:
        m.add("DynamoDB", "point-in-time recovery", "GB-months", "dynamodb_pitr_per_gb_month", table_bytes / GB)
    days = count["customer_day"] / max(usage.customers, 1) if usage.customers else float(m.assume["days_per_month"])
    s3_bytes = (
        stored["per_event"]["s3:archive/events/"] * count["event"]
        + stored["per_mail"]["s3:sent/"] * count["mail"]
        + stored["per_day"]["s3:analytics/"] * days
    ) * months
    m.add("S3", f"storage ({months:g} months of history)", "GB-months", "s3_standard_per_gb_month", s3_bytes / GB)


# The daily snapshot's CTAS read the JSON archive once and the Parquet they derive from it about
# this many times over (order_statements, events, migrations and mails each read stored_events).
SNAPSHOT_PARQUET_READS = 4


def _audiences(m: _Month, usage: Usage, units: dict[str, Any], count: dict[str, float], days: float) -> None:
    """The daily audience snapshot (DynamoDB's exports, Athena's CTAS over the whole archive), and
    Athena scanning the audience tables (Parquet) once per audience run."""
    parquet = units["audience_parquet_bytes"]
    stored = units["stored_bytes"]
    events_held = count["event"] * usage.history_months
    snapshots = float(m.assume["days_per_month"])  # one a day, whatever the traffic
    exported = sum(stored["per_customer"].values()) * usage.customers
    m.add("DynamoDB", "exports to S3 (the daily audience snapshot)", "GB", "dynamodb_export_per_gb", snapshots * exported / GB)
    floor = float(m.prices["athena_minimum_mb_per_query"]) * 1024**2
    from nudgeloop.domain import audience_sources

    ctas = len(audience_sources.order())  # each query is billed at least the minimum
    snapshot_scan = max(
        stored["per_event"]["s3:archive/events/"] * events_held
        + SNAPSHOT_PARQUET_READS * parquet["per_event"] * events_held
        + parquet["per_customer"] * usage.customers,
        ctas * floor,
    )
    m.add(
        "Athena",
        "data scanned by the daily audience snapshot",
        "TB",
        "athena_per_tb_scanned",
        snapshots * snapshot_scan / 1024**4,
    )
    if not usage.audience_runs_per_day:
        return
    scanned = parquet["per_customer"] * usage.customers + parquet["per_event"] * count["event"] * usage.history_months
    per_run = max(scanned, floor)
    runs = usage.audience_runs_per_day * days
    m.add("Athena", "data scanned by audience runs", "TB", "athena_per_tb_scanned", runs * per_run / 1024**4)


def total(lines: list[Line]) -> float:
    return sum(line.usd for line in lines)


def by_service(lines: list[Line]) -> dict[str, float]:
    out: defaultdict[str, float] = defaultdict(float)
    for line in lines:
        out[line.service] += line.usd
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
