"""`nudgeloop keys`: the stack's scoped API keys (``domain/access.py``), with an admin key."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .options import UrlOption

keys_app = typer.Typer(help="API keys: create, list and revoke keys of a scope (ingest, read, admin).", no_args_is_help=True)


def _answer(status: int, answer: object, ok: tuple[int, ...]) -> None:
    typer.echo(json.dumps(answer, indent=2))
    if status not in ok:
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who holds it, e.g. webshop or till-3 (a-z, 0-9, -)")],
    scope: Annotated[str, typer.Option("--scope", help="ingest, read or admin")],
    url: UrlOption = None,
) -> None:
    """``POST /v1/keys``: a new key; its value is printed this once (keep it in a secret store)."""
    from nudgeloop_cli.client import Client

    status, answer = Client(url).request("POST", "/v1/keys", {"name": name, "scope": scope})
    _answer(status, answer, (201,))


@keys_app.command("list")
def keys_list(url: UrlOption = None) -> None:
    """``GET /v1/keys``: id, name, scope and state of each key (never a value)."""
    from nudgeloop_cli.client import Client

    status, answer = Client(url).request("GET", "/v1/keys")
    _answer(status, answer, (200,))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list)")], url: UrlOption = None) -> None:
    """``DELETE /v1/keys/{id}``: API Gateway refuses the key from then on."""
    from nudgeloop_cli.client import Client

    status, answer = Client(url).request("DELETE", f"/v1/keys/{key_id}")
    _answer(status, answer, (200,))


@keys_app.command("scopes")
def keys_scopes() -> None:
    """Which key scopes may call each route (the table of docs/api.md)."""
    from nudgeloop.domain.access import scope_table
    from nudgeloop.resources import catalog

    typer.echo(scope_table(catalog().routes))
