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
