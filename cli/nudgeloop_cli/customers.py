"""`nudgeloop customers`: one person's data (docs/privacy.md), with an admin key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .options import UrlOption

customers_app = typer.Typer(help="Customers: what the stack holds about one person.", no_args_is_help=True)


@customers_app.command("export")
def customers_export(
    customer_id: Annotated[str, typer.Argument(help="The customer's id")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the document here (default: print it)")] = None,
    url: UrlOption = None,
) -> None:
    """``GET /v1/customers/{id}/export``: everything held about the person, as one JSON document
    (GDPR access and portability); the links to their archived mails work for 15 minutes."""
    from urllib.parse import quote

    from nudgeloop_cli.client import Client

    status, answer = Client(url).request("GET", f"/v1/customers/{quote(customer_id, safe='')}/export")
    text = json.dumps(answer, indent=2)
    if status == 200 and out is not None:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)
    if status != 200:
        raise typer.Exit(1)


@customers_app.command("erase")
def customers_erase(
    customer_id: Annotated[str, typer.Argument(help="The customer's id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the first pass to be done")] = 0.0,
    url: UrlOption = None,
) -> None:
    """``DELETE /v1/customers/{id}``: erase the person (GDPR erasure, docs/privacy.md). Their
    addresses are suppressed at once; the first pass deletes them from the tables, sent mails and
    the event archive, the second (after the next audience snapshot) from snapshots and exports.
    Prints the erasure (``erasure_id``, ``status``, ``last_copy_gone_by``)."""
    import time
    from urllib.parse import quote

    from nudgeloop_cli.client import Client

    if not yes:
        typer.confirm(f"Erase customer {customer_id} from every store of the stack? This cannot be undone", abort=True)
    client = Client(url)
    status, answer = client.request("DELETE", f"/v1/customers/{quote(customer_id, safe='')}")
    deadline = time.monotonic() + wait
    while status in (200, 202) and answer.get("status") == "running" and time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        status, answer = client.request("GET", f"/v1/erasures/{answer['erasure_id']}")
    typer.echo(json.dumps(answer, indent=2))
    if status not in (200, 202) or answer.get("status") == "failed":
        raise typer.Exit(1)


@customers_app.command("erasure")
def customers_erasure(
    erasure_id: Annotated[str, typer.Argument(help="The erasure's id (er-...)")],
    url: UrlOption = None,
) -> None:
    """``GET /v1/erasures/{id}``: where an erasure stands and what it erased."""
    from nudgeloop_cli.client import Client

    status, answer = Client(url).request("GET", f"/v1/erasures/{erasure_id}")
    typer.echo(json.dumps(answer, indent=2))
    if status != 200:
        raise typer.Exit(1)
