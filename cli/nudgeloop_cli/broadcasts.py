"""`nudgeloop broadcasts`: a newsletter to a saved audience, now or at a set time, and how it goes."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from .options import UrlOption

broadcasts_app = typer.Typer(help="Broadcasts: one mail to a saved audience's members, each at most once.", no_args_is_help=True)


@broadcasts_app.command("send")
def broadcasts_send(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id: its idempotency key (a-z, 0-9, -)")],
    audience: Annotated[str, typer.Option("--audience", help="The saved audience")],
    template: Annotated[str, typer.Option("--template", help="The template (as a campaign step names it)")],
    purpose: Annotated[str, typer.Option("--purpose", help="newsletter, marketing or service")] = "newsletter",
    at: Annotated[str | None, typer.Option("--at", help="When, ISO 8601 with a zone (default: now)")] = None,
    test_to: Annotated[str | None, typer.Option("--test-to", help="Send one test mail to this address instead")] = None,
    url: UrlOption = None,
) -> None:
    """``POST /v1/broadcasts``: start the broadcast (the same id again answers the same one), or
    with ``--test-to`` send one test mail; print the answer."""
    from nudgeloop_cli.client import Client

    body = {"broadcast_id": broadcast_id, "audience_id": audience, "template": template, "consent_purpose": purpose}
    body |= {k: v for k, v in (("send_at", at), ("test_to", test_to)) if v}
    status, answer = Client(url).request("POST", "/v1/broadcasts", body)
    typer.echo(json.dumps(answer, indent=2))
    if status not in (200, 202):
        raise typer.Exit(1)


@broadcasts_app.command("status")
def broadcasts_status(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id")],
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for it to be done")] = 0.0,
    url: UrlOption = None,
) -> None:
    """``GET /v1/broadcasts/{id}``: its state, members, batches and the mails sent so far."""
    from nudgeloop_cli.client import Client

    client = Client(url)
    deadline = time.monotonic() + wait
    while True:
        status, answer = client.request("GET", f"/v1/broadcasts/{broadcast_id}")
        if status != 200 or answer.get("status") in ("done", "failed") or time.monotonic() >= deadline:
            break
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
    typer.echo(json.dumps(answer, indent=2))
    if status != 200:
        raise typer.Exit(1)
