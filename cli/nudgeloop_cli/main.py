"""``nudgeloop``: the local runtime, the demo and helpers for a running local stack."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Nudgeloop: closed-loop marketing automation on AWS.", no_args_is_help=True)
local_app = typer.Typer(help="The embedded local runtime (moto).", no_args_is_help=True)
app.add_typer(local_app, name="local")

UrlOption = Annotated[str | None, typer.Option("--url", help="Local stack URL (else NUDGELOOP_URL, else http://127.0.0.1:8787)")]


def _start_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {text}") from exc


@local_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8787,
    clock: Annotated[str, typer.Option("--clock", help="simulated or system")] = "simulated",
    start: Annotated[str, typer.Option(help="Start of the simulated clock (UTC date)")] = "2026-01-01",
    examples: Annotated[bool, typer.Option(help="Load the shipped templates and campaigns")] = True,
) -> None:
    """Run the whole stack locally until interrupted; prints `ready URL` when it accepts requests."""
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background

    if clock not in ("simulated", "system"):
        raise typer.BadParameter("--clock must be simulated or system")
    stack = LocalStack(clock_mode=clock, start=_start_date(start), public_base_url=f"http://127.0.0.1:{port}").start()
    if examples:
        stack.load_examples()
    background = Background(stack, port).start()
    print(f"ready {background.url}", flush=True)  # noqa: T201 - the documented readiness line
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    background.stop()
    stack.stop()


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
    name: Annotated[str, typer.Argument(help="The DLQ's name, e.g. nudgeloop-ingest-dlq")],
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


@app.command("openapi")
def openapi() -> None:
    """Print the HTTP API's OpenAPI document (docs/openapi.json is this, committed)."""
    from nudgeloop.openapi import document

    typer.echo(json.dumps(document(), indent=2, sort_keys=True))


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
