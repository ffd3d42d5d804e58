"""``nudgeloop``: the local runtime, the demo and helpers for a running local stack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from . import audiences, broadcasts, content, customers, keys, migrate, webhooks
from .costs import command as cost_command
from .options import PrefixOption, UrlOption

app = typer.Typer(help="Nudgeloop: closed-loop marketing automation on AWS.", no_args_is_help=True)
local_app = typer.Typer(help="The embedded local runtime (moto).", no_args_is_help=True)
app.add_typer(local_app, name="local")
DEFAULT_STATE = Path(".nudgeloop/state")


def _start_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {text}") from exc


@local_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8787,
    clock: Annotated[str, typer.Option("--clock", help="simulated or system")] = "simulated",
    start: Annotated[str, typer.Option(help="Start of the simulated clock (UTC date) of a new stack")] = "2026-01-01",
    examples: Annotated[bool, typer.Option(help="Load the shipped templates and campaigns into a new stack")] = True,
    state: Annotated[Path, typer.Option(help="Where the stack's data is kept across restarts")] = DEFAULT_STATE,
    fresh: Annotated[bool, typer.Option(help="Start empty: forget the state saved in --state")] = False,
    keep: Annotated[bool, typer.Option("--keep/--no-keep", help="Load and save --state (--no-keep: a throwaway stack)")] = True,
    faults: Annotated[
        str | None,
        typer.Option(help="Faults to inject, e.g. 'ingest_process:raise@3,dynamodb:throttle~0.05' (default: NUDGELOOP_FAULTS)"),
    ] = None,
    fault_seed: Annotated[
        int | None, typer.Option(help="Seed of the faults drawn by chance (default: NUDGELOOP_FAULT_SEED or 0)")
    ] = None,
) -> None:
    """Run the whole stack locally until interrupted; prints `ready URL` when it accepts requests.

    The stack's data is saved in --state when it stops and loaded from there when it starts
    again (its clock goes on from where it stopped); --fresh starts empty."""
    from nudgeloop_cli.local import state as local_state
    from nudgeloop_cli.local.base import LocalError
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background

    if clock not in ("simulated", "system"):
        raise typer.BadParameter("--clock must be simulated or system")
    try:
        stack = LocalStack(
            clock_mode=clock,
            start=_start_date(start),
            public_base_url=f"http://127.0.0.1:{port}",
            faults=faults,
            fault_seed=fault_seed,
        ).start()
    except LocalError as exc:  # a fault plan that is not one
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if fresh:
        local_state.clear(state)
    if keep and local_state.saved(state):
        try:
            local_state.restore(stack, state)
        except LocalError as exc:  # another format or clock: said plainly, nothing changed on disk
            stack.stop()
            typer.echo(f"cannot load the saved state: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(local_state.describe(state), err=True)
    elif examples:
        stack.load_examples()
    background = Background(stack, port).start()
    print(f"ready {background.url}", flush=True)  # noqa: T201 - the documented readiness line
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    background.stop()
    if keep:
        _drain_and_save(stack, state)
    stack.stop()
    # Everything is stopped and answered; skip the interpreter's teardown of moto's and boto3's
    # modules (about a third of a second), so SIGTERM ends the process within a second.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _drain_and_save(stack: Any, directory: Path) -> None:
    """What was accepted is finished (streams, queues, journeys to their next wait), then saved;
    a second Ctrl-C or SIGTERM quits at once without saving (the state saved before stays)."""
    from nudgeloop_cli.local import state as local_state
    from nudgeloop_cli.local.base import LocalError

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            stack.settle()
        except LocalError as exc:  # a journey that does not settle is reported, the rest is kept
            typer.echo(f"saving without a full drain: {exc}", err=True)
        counts = local_state.save(stack, directory)
    except KeyboardInterrupt:
        typer.echo(f"stopped without saving: {directory} holds the state of an earlier stop", err=True)
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
    if counts.get("journeys_not_parked"):
        typer.echo(f"{counts['journeys_not_parked']} journeys were between steps and are not kept", err=True)


@local_app.command("advance")
def advance(
    days: Annotated[float, typer.Option(help="Days to move the simulated clock")] = 0,
    hours: Annotated[float, typer.Option(help="Hours to move the simulated clock")] = 0,
    url: UrlOption = None,
) -> None:
    """Advance a running local stack's clock, running everything that falls due."""
    from nudgeloop_cli.client import Client

    typer.echo(json.dumps(Client(url).advance(days=days, hours=hours)))


@local_app.command("outbox")
def outbox(url: UrlOption = None) -> None:
    """Print the mails SES accepted on a running local stack (JSON)."""
    from nudgeloop_cli.client import Client

    status, body = Client(url).request("GET", "/_local/outbox", key=False)
    if status != 200:
        typer.echo(f"outbox answered {status}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(body, indent=2))


clv_app = typer.Typer(help="Customer lifetime value.", no_args_is_help=True)
app.add_typer(clv_app, name="clv")


@clv_app.command("fit")
def clv_fit(
    until: Annotated[str | None, typer.Option(help="Fit on orders up to this date (default: the stack's today)")] = None,
    unit: Annotated[str, typer.Option(help="days or weeks (recency and age divided by 7)")] = "days",
    url: UrlOption = None,
) -> None:
    """Fit BG/NBD and Gamma-Gamma on the data in the running local stack; print the parameters."""
    from nudgeloop_cli.client import Client

    if unit not in ("days", "weeks"):
        raise typer.BadParameter("--unit must be days or weeks")
    status, body = Client(url).request("POST", "/_local/clv/fit", {"until": until, "unit": unit}, key=False)
    if status != 200:
        typer.echo(json.dumps(body), err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(body))


dlq_app = typer.Typer(help="Dead-letter queues: depths and redrive.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("redrive")
def dlq_redrive(
    name: Annotated[str, typer.Argument(help="The DLQ's name, e.g. nudgeloop-failures")],
    aws: Annotated[bool, typer.Option("--aws", help="Redrive in the deployed stack (default credentials)")] = False,
    prefix: Annotated[str, typer.Option(help="The stack's resource prefix (with --aws)")] = "nudgeloop",
    url: UrlOption = None,
) -> None:
    """Send dead letters through again: queue DLQs back to their queue, stream DLQs back to
    their function (records read from the stream, or from the S3 archive after 24 hours)."""
    if not aws:
        from nudgeloop_cli.client import Client

        status, body = Client(url).request("POST", f"/_local/dlq/{name}/redrive", key=False)
    else:
        from nudgeloop_cli.aws_ops import redrive

        status, body = 200, redrive(name, prefix)
    typer.echo(json.dumps(body, indent=2))
    if status != 200 or body.get("failed") or body.get("lost"):
        raise typer.Exit(1)


app.add_typer(content.templates_app, name="templates")
app.add_typer(content.campaigns_app, name="campaigns")
app.add_typer(audiences.audiences_app, name="audiences")
app.add_typer(broadcasts.broadcasts_app, name="broadcasts")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(customers.customers_app, name="customers")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(migrate.migrate_app, name="migrate")


@app.command("campaign-schema")
def campaign_schema() -> None:
    """Print the campaign definition's JSON Schema (docs/campaign.schema.json is this, committed)."""
    from nudgeloop.domain.campaigns import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command("settings")
def settings_list() -> None:
    """The tunable settings: CDK context key (``-c name=value``), local variable, default, meaning
    (declared once in nudgeloop/config.py)."""
    from rich.console import Console
    from rich.table import Table

    from nudgeloop.config import LOCAL_PREFIX, describe_tunables

    table = Table("context key", "locally", "default", "meaning")
    for row in describe_tunables():
        table.add_row(row["name"], LOCAL_PREFIX + row["name"].upper(), row["default"] or "(none)", row["meaning"])
    Console(width=160).print(table)


sends_app = typer.Typer(help="Deployed stack: mails in doubt and stopped campaign steps.", no_args_is_help=True)
app.add_typer(sends_app, name="sends")


def _bind_engine(prefix: str) -> None:
    from nudgeloop_cli.aws_ops import bind_engine

    bind_engine(prefix)


@sends_app.command("in-doubt")
def sends_in_doubt(prefix: PrefixOption = "nudgeloop") -> None:
    """List reservations SES may or may not have sent (customer, ledger key, reserved at)."""
    from nudgeloop import clock
    from nudgeloop.dal import ledger

    _bind_engine(prefix)
    rows = [
        {"customer_id": i.customer_id, "ledger_key": i.key, "reserved_at": i.created_at} for i in ledger.in_doubt(clock.now())
    ]
    typer.echo(json.dumps(rows, indent=2))


@sends_app.command("settle")
def sends_settle(
    customer: Annotated[str, typer.Argument(help="Customer id")],
    ledger_key: Annotated[str, typer.Argument(help="campaign#step#execution, as `in-doubt` lists it")],
    sent: Annotated[bool, typer.Option("--sent/--not-sent", help="What SES's sending history shows")],
    note: Annotated[str, typer.Option(help="How you found out")] = "",
    prefix: PrefixOption = "nudgeloop",
) -> None:
    """Record the outcome of an in-doubt mail. Either way it is never sent again."""
    from nudgeloop.dal import ledger

    _bind_engine(prefix)
    if not ledger.settle_in_doubt(customer, ledger_key, sent, note or "settled by an operator"):
        typer.echo("no reservation in doubt under that key", err=True)
        raise typer.Exit(1)


@sends_app.command("resume")
def sends_resume(
    campaign: Annotated[str, typer.Argument(help="Campaign id")],
    step: Annotated[str, typer.Argument(help="Step id")],
    prefix: PrefixOption = "nudgeloop",
) -> None:
    """Let a campaign step send again after SES refused it (fix the cause first)."""
    from nudgeloop.dal import deliverability

    _bind_engine(prefix)
    reason = deliverability.step_stop(campaign, step)
    deliverability.resume_step(campaign, step)
    typer.echo(json.dumps({"campaign": campaign, "step": step, "was_stopped_for": reason}))


@sends_app.command("resume-marketing")
def sends_resume_marketing(
    local: Annotated[bool, typer.Option("--local", help="The running local stack instead of the deployed one")] = False,
    url: UrlOption = None,
    prefix: PrefixOption = "nudgeloop",
) -> None:
    """Resume marketing mail after the reputation circuit breaker paused it (find and fix the
    cause first: list hygiene, a bad import, a complaint-prone campaign). Turns the marketing
    configuration set back on; held journeys send at their next hourly try; rates are measured
    afresh from now."""
    if local:
        from nudgeloop_cli.client import Client

        status, body = Client(url).request("POST", "/_local/marketing/resume", key=False)
        typer.echo(json.dumps(body))
        if status != 200:
            raise typer.Exit(1)
        return
    import boto3

    from nudgeloop.services import reputation

    _bind_engine(prefix)
    operator = boto3.client("sts").get_caller_identity()["Arn"]  # who resumes, for the audit trail
    lifted = reputation.resume(f"{prefix}-mail", f"iam:{operator}")
    typer.echo(json.dumps({"resumed": True, "was_paused_for": (lifted or {}).get("reason")}))


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html")] = Path("out/report"),
    first: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD; default 30 days ago)")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD; default today)")] = None,
    campaign: Annotated[list[str] | None, typer.Option("--campaign", help="Campaign ids (default: all)")] = None,
    url: UrlOption = None,
) -> None:
    """Write a self-contained HTML report (the staircase and its flows, the staircase over time,
    campaign funnels, uplift, deliverability) from a running stack's analytics API; for a
    deployed stack give --url (the API's) and NUDGELOOP_API_KEY."""
    from nudgeloop_cli import report as pages
    from nudgeloop_cli.client import Client

    try:
        data = pages.gather(Client(url), first=first, last=last, campaigns=campaign)
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"report written to {pages.write(data, out)}")


app.command("cost")(cost_command.cost)


@app.command("openapi")
def openapi() -> None:
    """Print the HTTP API's OpenAPI document (docs/openapi.json is this, committed)."""
    from nudgeloop.openapi import document

    typer.echo(json.dumps(document(), indent=2, sort_keys=True))


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file of events, as the S3 drop takes them", exists=True)],
    event_type: Annotated[str | None, typer.Option("--type", help="The event type of rows without one")] = None,
    aws: Annotated[bool, typer.Option("--aws", help="Into the deployed stack's data bucket (default AWS credentials)")] = False,
    prefix: PrefixOption = "nudgeloop",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the report")] = 3600,
    url: UrlOption = None,
) -> None:
    """Import a file through the stack's S3 drop, with a progress bar; prints the file's report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nudgeloop_cli import imports

    try:
        target = imports.AwsTarget(prefix) if aws else imports.LocalTarget(url)
        with Progress(
            TextColumn(f"importing {file.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        ) as bar:
            task = bar.add_task("rows", total=None)
            report = imports.run(
                target, file, event_type, lambda done, total: bar.update(task, completed=done, total=total), timeout
            )
    except imports.ImportFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(report, indent=2))
    if report.get("status") != "done":
        raise typer.Exit(1)


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(min=1, max=5000, help="Simulated webshop customers")] = 40,
    days: Annotated[int, typer.Option(min=1, max=730, help="Simulated days")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    out: Annotated[Path, typer.Option(help="Where the report goes")] = Path("out/demo"),
) -> None:
    """Drive a simulated webshop through the closed loop on the local runtime and write a report."""
    from nudgeloop_cli.demo import run_demo

    report = run_demo(customers=customers, days=days, seed=seed, out=out)
    if report["problems"]:
        for problem in report["problems"]:
            typer.echo(f"problem: {problem}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    app()
