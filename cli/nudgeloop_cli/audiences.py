"""`nudgeloop audiences`: check audience definitions and preview who is in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .content import definition_files
from .options import UrlOption

audiences_app = typer.Typer(help="Audience definitions: check, preview, schema.", no_args_is_help=True)


@audiences_app.command("validate")
def audiences_validate(paths: Annotated[list[Path], typer.Argument(help="Audience YAML/JSON files or folders")]) -> None:
    """Check definitions against the audience schema (docs/audience.schema.json); print each
    problem with file, line and field; exit 1 if any is invalid."""
    from nudgeloop.services.audiences import InvalidAudience, parse

    rows = []
    for path in definition_files(paths, (".yaml", ".yml", ".json")):
        try:
            rows.append({"file": str(path), "id": parse(path.read_bytes()).id, "valid": True})
        except InvalidAudience as exc:
            rows.append({"file": str(path), "valid": False, "line": exc.line, "field": exc.field, "reason": exc.reason})
    typer.echo(json.dumps(rows, indent=2))
    if not rows or not all(r["valid"] for r in rows):
        raise typer.Exit(1)


@audiences_app.command("preview")
def audiences_preview(
    path: Annotated[Path, typer.Argument(help="An audience definition")],
    limit: Annotated[int, typer.Option("--limit", help="How many members to show (0-1000)")] = 20,
    url: UrlOption = None,
) -> None:
    """Evaluate a definition against the data in the running local stack now: the count and a
    sample of members, each with the values that qualified them."""
    from nudgeloop_cli.client import Client

    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}")
    status, body = Client(url).request(
        "POST", "/_local/audiences/preview", {"audience": path.read_text(), "limit": limit}, key=False
    )
    typer.echo(json.dumps(body, indent=2))
    if status != 200:
        raise typer.Exit(1)


@audiences_app.command("schema")
def audiences_schema() -> None:
    """Print the JSON Schema of an audience definition (for editors and CI)."""
    from nudgeloop.services.audiences import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
