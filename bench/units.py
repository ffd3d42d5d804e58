"""What one unit of use costs in AWS requests, bytes and compute: the figures the cost model
(`nudgeloop cost`, docs/costs.md) multiplies by list prices. Prints them; ``--write`` stores them
in ``cli/nudgeloop_cli/costs/units.json``, the file the model reads.

    .venv/bin/python bench/units.py [--customers 100] [--days 30] [--seed 7] [--write]

It runs the demo shop (the workload of `make demo`: sign-ups, imports, page views, carts,
orders, consent, the shipped journeys, opens and clicks fed back) on the local runtime, with
meters on every request a handler makes:

- each function's invocations, its CPU time outside the AWS SDK (the SDK's and moto's time is
  taken out: on AWS a call costs its network round trip instead, which the model adds per call
  from ``prices.json``), its AWS calls by service and operation, and the bytes it logs at the
  deployed log level (Powertools JSON lines and its EMF metric lines);
- DynamoDB write units as on-demand bills them (bench/wcu.py) and read units (a Query or Scan
  charged for every item it evaluates, before its filter, in 4 KB; GetItem per item, strongly
  consistent: an upper bound), per function;
- PutEvents entries, SQS messages and batch sizes of the queue consumers, Step Functions state
  transitions per journey (each ``*StateEntered`` history event), SES sends, bytes stored in S3
  and DynamoDB, and the audience tables' size as Parquet (what Athena would scan);
- an empty run of each sweep (the journey sweep, the webhook retries; nothing due), measured on
  its own: the stack's only wake-ups when idle.

Each function's figures are divided by the unit that drives it (docs/costs.md): events
accepted by the API, mails sent, journeys started, or customers per daily or weekly job run.
The shop's traffic is the same for a seed, but batch boundaries are not: they depend on when
the pump thread runs relative to the HTTP server, so per-invocation figures move by a few
percent from run to run (write units per event of the events consumer: 1.42-1.51 in two short
runs). CPU times vary with the machine (they are this machine's, an upper bound for Lambda's
arm64 cores, which run this code at least as fast).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wcu import WriteMeter, read_meter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))
OUT = ROOT / "cli" / "nudgeloop_cli" / "costs" / "units.json"

# the unit each function's use grows with (docs/costs.md, "Units"); what no unit drives
# (template checks, bulk imports) is listed apart and not modelled
DRIVER = {
    "ingest_api": "event",
    "ingest_process": "event",
    "ingest_archive": "event",
    "segment_counts": "event",
    "trigger_start": "event",
    "ingest_feedback": "mail",
    "send": "mail",
    "send_confirmation": "mail",
    "journey_plan": "journey",
    "journey_park": "journey",
    "journey_wake": "journey",
    "segment_daily": "customer_day",
    "analytics": "customer_day",
    "recommend": "customer_day",
    "clv": "customer_week",
}


class _Meters:
    """Per function: invocations, own CPU, SDK time, calls, log bytes, read and write units."""

    def __init__(self) -> None:
        self.invocations: Counter[str] = Counter()
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.sdk_cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.entries: Counter[str] = Counter()  # PutEvents entries
        self.messages: Counter[str] = Counter()  # SQS messages delivered to the function
        self.log_bytes: Counter[str] = Counter()
        self.emf_bytes: Counter[str] = Counter()
        self.metric_names: set[str] = set()
        self.metric_pubs: Counter[tuple[str, str]] = Counter()  # (function, metric) -> invocations publishing it
        self.read_units: defaultdict[str, float] = defaultdict(float)
        self.write_units: defaultdict[str, float] = defaultdict(float)
        self.local = threading.local()

        self.enforcer: Any = None  # who acts (the fidelity enforcer knows, on every thread)

    def current(self) -> str:
        return (self.enforcer.current if self.enforcer is not None else None) or "driver"


def _install(meters: _Meters, writes: WriteMeter) -> Callable[[], None]:
    """Put the meters in place; returns what takes them out again."""
    from botocore.client import BaseClient

    from nudgeloop_cli.local import fidelity, lambda_host

    replaced = [
        (owner, name, owner.__dict__[name])
        for owner, name in (
            (fidelity.Enforcer, "install"),
            (lambda_host.LambdaHost, "call"),
        )
    ]

    install = fidelity.Enforcer.install

    def counting_install(enforcer: Any) -> None:
        install(enforcer)
        meters.enforcer = enforcer
        inner = BaseClient._make_api_call  # type: ignore[attr-defined]

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            fn = enforcer.current or "driver"
            service = client.meta.service_model.service_name
            meters.calls[(fn, service, operation)] += 1
            if operation == "PutEvents":
                meters.entries[fn] += len(params.get("Entries", []))
            on_handler_thread = getattr(meters.local, "function", None) is not None
            began = time.thread_time()
            try:
                return inner(client, operation, params)
            finally:
                if on_handler_thread:
                    meters.sdk_cpu[fn] += time.thread_time() - began

        BaseClient._make_api_call = counted  # type: ignore[attr-defined]

    fidelity.Enforcer.install = counting_install  # type: ignore[method-assign,assignment]
    call = lambda_host.LambdaHost.call

    def timed_call(host: Any, key: str, event: dict[str, Any]) -> Any:
        if not getattr(host, "_units_timed", False):
            host._units_timed = True
            for name, handler in list(host.handlers.items()):

                def timed(ev: Any, ctx: Any, _h: Any = handler, _k: str = name) -> Any:
                    records = ev.get("Records") if isinstance(ev, dict) else None
                    if records and records[0].get("eventSource") == "aws:sqs":
                        meters.messages[_k] += len(records)
                    meters.local.function = _k
                    began = time.thread_time()
                    try:
                        return _h(ev, ctx)
                    finally:
                        meters.cpu[_k] += time.thread_time() - began
                        meters.invocations[_k] += 1
                        _emf(meters, _k)
                        meters.local.function = None

                host.handlers[name] = timed
        return call(host, key, event)

    lambda_host.LambdaHost.call = timed_call  # type: ignore[method-assign,assignment]
    charge = writes.charge

    def charged(table: Any, before: Any, after: Any) -> None:
        total = writes.total()
        charge(table, before, after)
        meters.write_units[meters.current()] += writes.total() - total

    writes.charge = charged  # type: ignore[method-assign]

    def read(units: float) -> None:
        meters.read_units[meters.current()] += units

    reads_restored = read_meter(read)

    def restore() -> None:
        reads_restored()
        for owner, name, original in replaced:
            setattr(owner, name, original)

    return restore


def _emf(meters: _Meters, function: str) -> None:
    """The EMF line Powertools would print for this invocation's metrics (disabled locally)."""
    from nudgeloop.observability import metrics

    if metrics.metric_set:
        blob = metrics.serialize_metric_set()
        meters.emf_bytes[function] += len(json.dumps(blob)) + 1
        meters.metric_names |= set(metrics.metric_set)
        for name in metrics.metric_set:
            meters.metric_pubs[(function, name)] += 1


class _LogBytes(io.TextIOBase):
    """Stands in for stdout under the handlers' loggers: counts each function's bytes."""

    def __init__(self, meters: _Meters) -> None:
        self.meters = meters

    def write(self, text: str) -> int:
        self.meters.log_bytes[self.meters.current()] += len(text.encode())
        return len(text)


def _transitions(stack: Any) -> tuple[int, int]:
    """(executions, billed state transitions) of every journey the run started."""
    from nudgeloop.adapters.aws import client

    sfn = client("stepfunctions")
    executions = transitions = 0
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.res.state_machine_arn):
        for execution in page["executions"]:
            executions += 1
            for history in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"]):
                transitions += sum(1 for e in history["events"] if e["type"].endswith("StateEntered"))
    return executions, transitions


def _stored(stack: Any) -> dict[str, int]:
    """Bytes held per table and per bucket stem at the end of the run."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from wcu import _size

    from nudgeloop.layout import ANALYTICS_PREFIX, ARCHIVE_PREFIX, SENT_PREFIX
    from nudgeloop_cli.local.base import REGION
    from nudgeloop_cli.local.provision import ACCOUNT

    out: dict[str, int] = {}
    for spec in stack.catalog.tables:
        key, table = spec.key, dynamodb_backends[ACCOUNT][REGION].get_table(spec.name)
        out[f"table:{key}"] = sum(_size(i.attrs) for i in table.all_items())
    bucket = s3_backends[ACCOUNT]["global"].buckets[stack.res.buckets["data"]]
    for prefix in (ARCHIVE_PREFIX, SENT_PREFIX, ANALYTICS_PREFIX):
        out[f"s3:{prefix}"] = sum(k.size for name, k in bucket.keys.items() if name.startswith(prefix))
    return out


def _parquet_bytes(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    """The audience tables written as Parquet (zstd), each table's bytes."""
    from nudgeloop_cli.local.audience_engine import DuckDBEngine

    engine = DuckDBEngine(rows)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in rows:
            path = Path(tmp) / f"{name}.parquet"
            engine.db.execute(f"COPY {name} TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            out[name] = path.stat().st_size
    engine.close()
    return out


def _sweeps() -> tuple[str, ...]:
    """The functions on the sweep schedule: the idle wake-ups."""
    from nudgeloop.resources import DEFAULT_SWEEP_SCHEDULE, catalog

    return tuple(f.key for f in catalog("nudgeloop").functions if f.schedule == DEFAULT_SWEEP_SCHEDULE)


def _empty_sweep(stack: Any, meters: Any, key: str) -> dict[str, Any]:
    """What one run of a sweep that finds nothing to do costs (the stack's only work when idle)."""
    before = {k: meters.__dict__[k].copy() for k in ("cpu", "sdk_cpu", "log_bytes", "read_units")}
    calls_before, pubs_before = meters.calls.copy(), meters.metric_pubs.copy()
    stack.host.call(key, stack.scheduler.scheduled_event(key))
    return {
        "memory_mb": stack.catalog.function(key).memory_mb,
        "cpu_s": meters.cpu[key] - before["cpu"][key],
        "sdk_cpu_s": meters.sdk_cpu[key] - before["sdk_cpu"][key],
        "log_bytes": meters.log_bytes[key] - before["log_bytes"][key],
        "read_units": meters.read_units[key] - before["read_units"][key],
        "calls": {
            f"{s}.{o}": n - calls_before[(f, s, o)]
            for (f, s, o), n in meters.calls.items()
            if f == key and n > calls_before[(f, s, o)]
        },
        "metrics": sorted(m for (f, m), n in meters.metric_pubs.items() if f == key and n > pubs_before[(f, m)]),
    }


def measure(customers: int, days: int, seed: int) -> dict[str, Any]:
    import random

    from nudgeloop_cli.client import Client
    from nudgeloop_cli.demo import simulate
    from nudgeloop_cli.local.base import LOCAL_KEYS
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    meters, writes = _Meters(), WriteMeter()
    restore = _install(meters, writes)
    port = free_port()
    stack = LocalStack(clock_mode="simulated", public_base_url=f"http://127.0.0.1:{port}").start()
    stack.load_examples()
    sink = _LogBytes(meters)
    for handler in logging.getLogger("nudgeloop").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)  # type: ignore[type-var]
    background = Background(stack, port).start()
    try:
        with writes.installed():
            traffic = simulate(Client(background.url, LOCAL_KEYS["ingest"]), random.Random(seed), customers, days)  # a shop's key
            stack.settle()
            with stack.aws_lock:
                executions, transitions = _transitions(stack)
                stored = _stored(stack)
                from nudgeloop.services import audience_tables

                parquet = _parquet_bytes(audience_tables.snapshot())
            stack.advance(timedelta(minutes=1))  # nothing is due a minute later: empty sweeps
            empty_sweeps = {key: _empty_sweep(stack, meters, key) for key in _sweeps()}
    finally:
        background.stop()
        stack.stop()
        restore()
        for handler in logging.getLogger("nudgeloop").handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sink:
                handler.setStream(sys.stdout)  # type: ignore[type-var]
    sends = sum(n for (f, s, o), n in meters.calls.items() if s == "sesv2" and o == "SendEmail")
    drivers = {
        "event": traffic["events"],
        "mail": sends,
        "journey": executions,
        "customer_day": customers * days,
        "customer_week": customers * max(1, days // 7),
    }
    functions: dict[str, Any] = {}
    for fn, invocations in sorted(meters.invocations.items()):
        driver = DRIVER.get(fn)
        if driver is None or not drivers[driver]:
            continue
        n = drivers[driver]
        calls = {f"{s}.{o}": round(c / n, 4) for (f, s, o), c in sorted(meters.calls.items()) if f == fn}
        functions[fn] = {
            "per": driver,
            "memory_mb": stack.catalog.function(fn).memory_mb,
            "invocations": round(invocations / n, 4),
            "own_cpu_ms": round(max(0.0, meters.cpu[fn] - meters.sdk_cpu[fn]) * 1000 / n, 3),
            "calls": calls,
            "read_units": round(meters.read_units[fn] / n, 3),
            "write_units": round(meters.write_units[fn] / n, 3),
            "put_events_entries": round(meters.entries[fn] / n, 4),
            "sqs_messages": round(meters.messages[fn] / n, 4),
            "log_bytes": round((meters.log_bytes[fn] + meters.emf_bytes[fn]) / n, 1),
            # invocations that publish each custom metric (a metric costs by the hours it is published in)
            "metrics": {m: round(c / n, 4) for (f, m), c in sorted(meters.metric_pubs.items()) if f == fn},
        }
    not_modelled = sorted(fn for fn in meters.invocations if fn not in functions)
    return {
        "measured": {
            "command": f".venv/bin/python bench/units.py --customers {customers} --days {days} --seed {seed} --write",
            "date": datetime.now(UTC).date().isoformat(),  # the record's own date, not domain time
        },
        "run": {"customers": customers, "days": days, "seed": seed, "drivers": drivers, "traffic": traffic},
        "functions": functions,
        "not_modelled": not_modelled,
        "journey": {"transitions": round(transitions / max(1, executions), 2), "mails": round(sends / max(1, executions), 3)},
        "empty_sweeps": empty_sweeps,
        "custom_metrics": sorted(meters.metric_names),
        "stored_bytes": {
            "per_event": {k: round(stored[k] / drivers["event"], 1) for k in ("table:events", "s3:archive/events/")},
            "per_mail": {k: round(stored[k] / max(1, sends), 1) for k in ("table:engine", "s3:sent/")},
            "per_customer": {k: round(stored[k] / customers, 1) for k in ("table:customers", "table:recs")},
            "per_day": {"s3:analytics/": round(stored["s3:analytics/"] / days, 1)},
        },
        "audience_parquet_bytes": {
            "per_customer": round(sum(v for k, v in parquet.items() if k == "customers") / customers, 1),
            "per_event": round(sum(v for k, v in parquet.items() if k != "customers") / max(1, drivers["event"]), 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    units = measure(args.customers, args.days, args.seed)
    text = json.dumps(units, indent=2) + "\n"
    print(text)
    if args.write:
        OUT.write_text(text)
        print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
