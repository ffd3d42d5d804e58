"""`nudgeloop webhooks`: the secret a receiver verifies signatures with, and the delivery report
of an endpoint (local stack or deployed one)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .options import PrefixOption, UrlOption, ask_local

webhooks_app = typer.Typer(help="Outbound webhooks: endpoint secrets and delivery reports.", no_args_is_help=True)
LocalOption = Annotated[bool, typer.Option("--local", help="The running local stack instead of the deployed one")]


@webhooks_app.command("secret")
def webhooks_secret(
    endpoint: Annotated[str, typer.Argument(help="The endpoint's id (the webhooks setting)")],
    local: LocalOption = False,
    url: UrlOption = None,
    prefix: PrefixOption = "nudgeloop",
) -> None:
    """Print the endpoint's secret (``whsec_...``) for its receiver's Standard Webhooks check."""
    if local:
        ask_local(url, "GET", f"/_local/webhooks/{endpoint}/secret")
        return
    from nudgeloop.resources import catalog
    from nudgeloop.services import webhooks

    secret = webhooks.endpoint_secret(catalog(prefix).signing_secret_name, endpoint)
    typer.echo(json.dumps({"endpoint": endpoint, "secret": secret}))


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint: Annotated[str, typer.Argument(help="The endpoint's id (the webhooks setting)")],
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-1000)")] = 100,
    local: LocalOption = False,
    url: UrlOption = None,
    prefix: PrefixOption = "nudgeloop",
) -> None:
    """The endpoint's deliveries: status (pending, delivered, failed), attempts, the receiver's
    last answer, and when the next attempt is due."""
    if local:
        ask_local(url, "GET", f"/_local/webhooks/{endpoint}/deliveries?limit={limit}")
        return
    from nudgeloop.services import webhooks
    from nudgeloop_cli.aws_ops import bind_engine

    bind_engine(prefix)
    typer.echo(json.dumps(webhooks.delivery_report(endpoint, max(1, min(limit, 1000))), indent=2))
