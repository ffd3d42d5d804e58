"""`nudgeloop audiences`: check audience definitions and preview who is in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .content import definition_files
from .options import UrlOption, ask_local, validate_definitions

audiences_app = typer.Typer(help="Audience definitions: check, preview, schema.", no_args_is_help=True)


@audiences_app.command("validate")
def audiences_validate(paths: Annotated[list[Path], typer.Argument(help="Audience YAML/JSON files or folders")]) -> None:
    """Check definitions against the audience schema (docs/audience.schema.json); print each
    problem with file, line and field; exit 1 if any is invalid."""
    from nudgeloop.services.audiences import parse

    validate_definitions(definition_files(paths, (".yaml", ".yml", ".json")), parse)


@audiences_app.command("preview")
def audiences_preview(
    path: Annotated[Path, typer.Argument(help="An audience definition")],
    limit: Annotated[int, typer.Option("--limit", help="How many members to show (0-1000)")] = 20,
    url: UrlOption = None,
) -> None:
    """Evaluate a definition against the data in the running local stack now: the count and a
    sample of members, each with the values that qualified them."""
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}")
    ask_local(url, "POST", "/_local/audiences/preview", {"audience": path.read_text(), "limit": limit})


@audiences_app.command("schema")
def audiences_schema() -> None:
    """Print the JSON Schema of an audience definition (for editors and CI)."""
    from nudgeloop.services.audiences import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
