"""`nudgeloop audiences`: check audience definitions and preview who is in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .content import definition_files
from .options import UrlOption, ask_local, validate_definitions

audiences_app = typer.Typer(
    help="Audience definitions: check, save, list, preview, members, export, schema.", no_args_is_help=True
)


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


@audiences_app.command("push")
def audiences_push(
    paths: Annotated[list[Path], typer.Argument(help="Audience YAML/JSON files or folders")],
    by: Annotated[str | None, typer.Option("--by", help="Who uploads (kept with the version)")] = None,
    url: UrlOption = None,
) -> None:
    """Save definitions through the API (``PUT /v1/audiences/{id}``) of the local stack or a
    deployed one (``--url``, ``NUDGELOOP_API_KEY``): each stored as its audience's newest version,
    or refused with line and field; exit 1 if any was refused."""
    from nudgeloop.services.audiences import InvalidAudience, parse
    from nudgeloop_cli.client import Client

    client = Client(url)
    refused = 0
    for path in definition_files(paths, (".yaml", ".yml", ".json")):
        text = path.read_text()
        try:
            audience_id = parse(text).id
        except InvalidAudience as exc:  # checked here first: the same answer the API would give
            typer.echo(json.dumps({"file": str(path), "line": exc.line, "field": exc.field, "reason": exc.reason}))
            refused += 1
            continue
        status, body = client.request(
            "PUT", f"/v1/audiences/{audience_id}", raw=text.encode(), headers={"x-uploaded-by": by} if by else None
        )
        typer.echo(json.dumps({"file": str(path), "status": status, **(body if isinstance(body, dict) else {"body": body})}))
        refused += status != 200
    if refused:
        raise typer.Exit(1)


@audiences_app.command("list")
def audiences_list(url: UrlOption = None) -> None:
    """The saved audiences (``GET /v1/audiences``)."""
    _api(url, "/v1/audiences")


@audiences_app.command("show")
def audiences_show(audience_id: Annotated[str, typer.Argument(help="The audience's id")], url: UrlOption = None) -> None:
    """A saved audience: its newest definition and every version (``GET /v1/audiences/{id}``)."""
    _api(url, f"/v1/audiences/{audience_id}")


@audiences_app.command("members")
def audiences_members(
    audience_id: Annotated[str, typer.Argument(help="The audience's id")],
    limit: Annotated[int, typer.Option("--limit", help="At most this many members (0: all)")] = 0,
    refresh: Annotated[bool, typer.Option("--refresh", help="Evaluate anew, not the evaluation of this snapshot")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for a running evaluation")] = 300.0,
    url: UrlOption = None,
) -> None:
    """A saved audience's members (``GET /v1/audiences/{id}/members``), evaluated by Athena over
    the current audience snapshot (locally, by the embedded engine): the count, when, how old the
    state it read is, and the members with what qualified them, every page followed."""
    import time
    from urllib.parse import quote

    from nudgeloop_cli.client import Client

    client = Client(url)
    deadline = time.monotonic() + wait
    query = f"?limit=500{'&refresh=true' if refresh else ''}"
    answer: dict[str, object] = {}
    members: list[object] = []
    while True:
        status, body = client.request("GET", f"/v1/audiences/{audience_id}/members{query}")
        if status == 202 and time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            query = "?limit=500"  # the evaluation asked for is the one running
            continue
        if status != 200:
            typer.echo(json.dumps(body, indent=2))
            raise typer.Exit(1)
        answer = answer or {k: v for k, v in body.items() if k not in ("members", "next")}
        members += body["members"]
        if not body.get("next") or (limit and len(members) >= limit):
            break
        query = f"?limit=500&cursor={quote(body['next'])}"
    typer.echo(json.dumps({**answer, "members": members[: limit or None]}, indent=2))


@audiences_app.command("export")
def audiences_export(
    audience_id: Annotated[str, typer.Argument(help="The audience's id")],
    columns: Annotated[
        str, typer.Option("--columns", help="Comma-separated columns or groups (name, address, consent, engagement, clv)")
    ] = "customer_id,email",
    file_format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the file (default: AUDIENCE-EXPORT.EXT here)")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the export")] = 600.0,
    url: UrlOption = None,
) -> None:
    """Export a saved audience's members (``POST /v1/audiences/{id}/exports``) with the chosen
    columns, wait for the file and download it by its time-limited link; print the export."""
    import time
    import urllib.request
    from urllib.parse import urlsplit

    from nudgeloop_cli.client import DEFAULT_URL, Client, resolve_url

    client = Client(url)
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    status, body = client.request("POST", f"/v1/audiences/{audience_id}/exports", {"format": file_format, "columns": wanted})
    deadline = time.monotonic() + wait
    while status == 202 and time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        status, body = client.request("GET", f"/v1/audiences/{audience_id}/exports/{body['export_id']}")
    if status != 200 or body.get("status") != "succeeded":
        typer.echo(json.dumps(body, indent=2))
        raise typer.Exit(1)
    link = body["download"]["url"]
    host = urlsplit(resolve_url(url)).hostname
    if resolve_url(url) == DEFAULT_URL or host in ("127.0.0.1", "localhost"):
        got, content = client.send("POST", "/_local/download", {"url": link}, key=False)  # only the local stack's S3 answers it
        if got != 200:
            typer.echo(json.dumps({"download": got, "body": content.decode(errors="replace")}, indent=2))
            raise typer.Exit(1)
    else:
        with urllib.request.urlopen(link, timeout=300) as resp:  # noqa: S310 - the API's presigned https link
            content = resp.read()
    target = out or Path(f"{audience_id}-{body['export_id']}.{body['format']}")
    target.write_bytes(content)
    typer.echo(json.dumps({**{k: v for k, v in body.items() if k != "download"}, "file": str(target)}, indent=2))


def _api(url: str | None, path: str) -> None:
    from nudgeloop_cli.client import Client

    status, body = Client(url).request("GET", path)
    typer.echo(json.dumps(body, indent=2))
    if status != 200:
        raise typer.Exit(1)
