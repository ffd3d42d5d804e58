"""``nudgeloop cost``: the monthly estimate of a deployed stack, per service (docs/costs.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .model import MONITORING, Usage, by_service, estimate, load, total


def cost(
    customers: Annotated[int, typer.Option("--customers", help="Customers held", min=0)],
    events_per_day: Annotated[float, typer.Option("--events-per-day", help="Events posted a day", min=0)],
    mails_per_month: Annotated[float, typer.Option("--mails-per-month", help="Mails sent a month", min=0)],
    journeys_per_month: Annotated[
        float | None, typer.Option("--journeys-per-month", help="Journeys started a month (default: as the mails need)", min=0)
    ] = None,
    audience_runs_per_day: Annotated[
        float, typer.Option("--audience-runs-per-day", help="Audience evaluations a day", min=0)
    ] = 0.0,
    events_per_request: Annotated[
        float | None, typer.Option("--events-per-request", help="Events per POST /v1/events (default 1)", min=1, max=100)
    ] = None,
    monitoring: Annotated[str, typer.Option("--monitoring", help=f"Alarms shipped: {' | '.join(MONITORING)}")] = "minimal",
    tracing: Annotated[bool, typer.Option("--tracing/--no-tracing", help="X-Ray on (context tracing=true)")] = False,
    history_months: Annotated[float, typer.Option("--history-months", help="History held (storage)", min=0)] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lines as JSON")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the lines as a Markdown table")] = False,
) -> None:
    """The monthly cost at list prices, per service, from the benches' measured units
    (cli/nudgeloop_cli/costs/units.json), the synthesized stack's inventory and the price file."""
    try:
        usage = Usage(
            customers=customers,
            events_per_day=events_per_day,
            mails_per_month=mails_per_month,
            journeys_per_month=journeys_per_month,
            audience_runs_per_day=audience_runs_per_day,
            events_per_request=events_per_request,
            monitoring=monitoring,
            tracing=tracing,
            history_months=history_months,
        )
    except ValueError as exc:  # Usage says what is wrong (the monitoring level)
        raise typer.BadParameter(str(exc), param_hint="--monitoring") from exc
    lines = estimate(usage)
    prices, units = load("prices.json"), load("units.json")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "usage": usage.__dict__,
                    "total_usd": round(total(lines), 2),
                    "by_service_usd": {k: round(v, 2) for k, v in by_service(lines).items()},
                    "lines": [line.__dict__ for line in lines],
                    "prices": {"region": prices["region"], "as_of": prices["as_of"]},
                    "units": units["measured"],
                },
                indent=2,
            )
        )
        return
    services = by_service(lines)
    if markdown:
        typer.echo("| service | item | quantity | USD |\n|---|---|---:|---:|")
        for service in services:
            for line in (x for x in lines if x.service == service):
                quantity = f"{line.quantity:,.0f}" if line.quantity >= 100 else f"{line.quantity:.3g}"
                typer.echo(f"| {service} | {line.item} | {quantity} {line.unit} | {line.usd:,.2f} |")
        typer.echo(f"| **total a month** | | | **{total(lines):,.2f}** |")
        return
    typer.echo(f"{'service':<16} {'item':<62} {'quantity':>14} {'unit':<14} {'USD':>9}")
    for service in services:
        for line in (x for x in lines if x.service == service):
            quantity = f"{line.quantity:,.0f}" if line.quantity >= 100 else f"{line.quantity:.3g}"
            typer.echo(f"{service:<16} {line.item:<62} {quantity:>14} {line.unit:<14} {line.usd:>9.2f}")
    typer.echo(f"{'total a month':<108} {total(lines):>9.2f}")
    typer.echo(
        f"List prices of {prices['region']} as of {prices['as_of']}, no free tier subtracted; units measured by "
        f"`{units['measured']['command']}` on {units['measured']['date']} (docs/costs.md)."
    )
