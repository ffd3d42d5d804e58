"""Command-line options shared by the ``nudgeloop`` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

UrlOption = Annotated[str | None, typer.Option("--url", help="Local stack URL (else NUDGELOOP_URL, else http://127.0.0.1:8787)")]
PrefixOption = Annotated[str, typer.Option(help="The stack's resource prefix")]


def ask_local(url: str | None, method: str, path: str, payload: object = None, ok: int = 200) -> None:
    """One request to the running local stack's control routes: print the answer as JSON, and
    exit 1 unless it is ``ok``."""
    import json

    from nudgeloop_cli.client import Client

    status, body = Client(url).request(method, path, payload, key=False)
    typer.echo(json.dumps(body, indent=2))
    if status != ok:
        raise typer.Exit(1)


def validate_definitions(files: list[Path], parse: Callable[[bytes], Any]) -> None:
    """Print, per definition file, its id or where it is wrong (line, field, reason); exit 1 if
    any is invalid (or there is none)."""
    import json

    from nudgeloop.domain.definitions import InvalidDefinition

    rows = []
    for path in files:
        try:
            rows.append({"file": str(path), "id": parse(path.read_bytes()).id, "valid": True})
        except InvalidDefinition as exc:
            rows.append({"file": str(path), "valid": False, "line": exc.line, "field": exc.field, "reason": exc.reason})
    typer.echo(json.dumps(rows, indent=2))
    if not rows or not all(r["valid"] for r in rows):
        raise typer.Exit(1)
