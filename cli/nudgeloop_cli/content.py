"""``nudgeloop templates`` and ``nudgeloop campaigns``: what marketers write, checked, previewed and
uploaded to the local stack or a deployed one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nudgeloop.layout import TEMPLATE_SUFFIXES

from .options import UrlOption, ask_local, validate_definitions

templates_app = typer.Typer(help="Mail templates: check, preview, upload.", no_args_is_help=True)


def _template_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise typer.BadParameter(f"not a directory: {directory}")
    return {
        p.relative_to(directory).as_posix(): p
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in TEMPLATE_SUFFIXES
    }


@templates_app.command("validate")
def templates_validate(
    directory: Annotated[Path, typer.Argument(help="A templates folder (as in the bucket's templates/)")],
    campaigns: Annotated[
        Path | None, typer.Option("--campaigns", help="Campaign definitions: check each template against their triggers")
    ] = None,
) -> None:
    """Render every template and locale variant against every name a send provides (with
    --campaigns, against what each trigger of the campaigns that send it provides); print the
    problems by file and line; exit 1 if any template is invalid."""
    from nudgeloop.domain import mail
    from nudgeloop.services import campaign_store, templates

    files = _template_files(directory)

    def fetch(path: str) -> mail.Source | None:
        found = files.get(path)
        return mail.Source(found.read_text(), "local") if found else None

    uses = None
    if campaigns is not None:
        uses = templates.uses_of(campaign_store.parse(p.read_bytes()) for p in definition_files([campaigns]))
    reports = [r.as_dict() for r in templates.check_all(fetch, files, uses)]
    typer.echo(json.dumps(reports, indent=2))
    if not reports or any(r["status"] != "valid" for r in reports):
        raise typer.Exit(1)


@templates_app.command("push")
def templates_push(
    directory: Annotated[Path, typer.Argument(help="A templates folder")],
    aws: Annotated[bool, typer.Option("--aws", help="Upload to the deployed stack's templates bucket")] = False,
    bucket: Annotated[str | None, typer.Option(help="The templates bucket (with --aws)")] = None,
    url: UrlOption = None,
) -> None:
    """Validate, then upload every template file (S3 keeps each version; the upload is checked
    again by the stack, see `templates status`)."""
    templates_validate(directory)
    files = _template_files(directory)
    _upload("templates", files, bucket, aws, url)
    typer.echo(f"uploaded {len(files)} files")


def _upload(prefix: str, files: dict[str, Path], bucket: str | None, aws: bool, url: str | None, by: str | None = None) -> None:
    """Upload ``files`` (key under ``prefix`` -> file) to the deployed bucket (``--aws``) or the
    running local stack (which does what S3 does: stores, notifies, checks); ``by`` names the
    uploader in each version's metadata (``campaigns history``)."""
    from urllib.parse import quote

    from nudgeloop.services.campaign_store import UPLOADED_BY

    if aws:
        import boto3

        if not bucket:
            raise typer.BadParameter("--bucket is required with --aws")
        s3 = boto3.client("s3")
        metadata = {UPLOADED_BY: by} if by else {}
        for rel, path in files.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{rel}", Body=path.read_bytes(), Metadata=metadata)
        return
    from nudgeloop_cli.client import Client

    client = Client(url)
    suffix = f"?by={quote(by)}" if by else ""
    for rel, path in files.items():
        status, body = client.request("PUT", f"/_local/{prefix}/{rel}{suffix}", key=False, raw=path.read_bytes())
        if status != 201:
            typer.echo(json.dumps(body), err=True)
            raise typer.Exit(1)


@templates_app.command("preview")
def templates_preview(
    name: Annotated[str, typer.Argument(help="Template name, e.g. welcome")],
    customer: Annotated[str, typer.Option("--customer", help="A customer id in the running local stack")],
    out: Annotated[Path | None, typer.Option(help="Write the HTML here (default out/preview/NAME-CUSTOMER.html)")] = None,
    url: UrlOption = None,
) -> None:
    """Render a template for a real customer of the running local stack and write the HTML."""
    from nudgeloop_cli.client import Client

    status, body = Client(url).request("GET", f"/_local/templates/{name}/preview/{customer}", key=False)
    if status != 200:
        typer.echo(json.dumps(body), err=True)
        raise typer.Exit(1)
    target = out or Path("out") / "preview" / f"{name}-{customer}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body["html"])
    typer.echo(json.dumps({"subject": body["subject"], "html": str(target), "text": body["text"], "versions": body["versions"]}))


@templates_app.command("test-send")
def templates_test_send(
    name: Annotated[str, typer.Argument(help="Template name, e.g. welcome")],
    to: Annotated[str, typer.Option("--to", help="Where to send the test")],
    customer: Annotated[str | None, typer.Option("--customer", help="Render as this customer gets it (else the sample)")] = None,
    aws: Annotated[bool, typer.Option("--aws", help="From the deployed stack's templates bucket, with SES")] = False,
    bucket: Annotated[str | None, typer.Option(help="The templates bucket (with --aws)")] = None,
    sender: Annotated[str | None, typer.Option("--sender", help="The From address (with --aws; a verified identity)")] = None,
    url: UrlOption = None,
) -> None:
    """Send a template to an address as a test: subject marked [TEST], nothing recorded or
    counted. Locally as a customer of the running stack gets it (or the sample); with --aws,
    the sample context, from the deployed templates bucket through SES with your credentials."""
    if aws:
        from nudgeloop.domain import mail
        from nudgeloop.services import sender as sending

        if not bucket or not sender:
            raise typer.BadParameter("--bucket and --sender are required with --aws")
        typer.echo(json.dumps(sending.send_test(bucket, name, to, mail.sample_context(), None, sender), indent=2))
        return
    ask_local(url, "POST", f"/_local/templates/{name}/test-send", {"to": to, "customer_id": customer})


@templates_app.command("status")
def templates_status(name: Annotated[str, typer.Argument(help="Template name")], url: UrlOption = None) -> None:
    """What the stack's check of the uploaded template found."""
    from nudgeloop_cli.client import Client

    status, body = Client(url).request("GET", f"/_local/templates/{name}/status", key=False)
    typer.echo(json.dumps(body, indent=2))
    if status != 200 or body.get("status") != "valid":
        raise typer.Exit(1)


campaigns_app = typer.Typer(help="Campaign definitions: check, upload, list.", no_args_is_help=True)


def definition_files(paths: list[Path], suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Path]:
    """The definition files named, folders read for files of ``suffixes``."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in suffixes)
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"no such file or directory: {path}")
    return files


@campaigns_app.command("validate")
def campaigns_validate(paths: Annotated[list[Path], typer.Argument(help="Campaign YAML files or folders")]) -> None:
    """Check definitions against the campaign schema (docs/campaign.schema.json); print each
    problem with file, line and field; exit 1 if any is invalid."""
    from nudgeloop.services.campaign_store import parse

    validate_definitions(definition_files(paths), parse)


@campaigns_app.command("push")
def campaigns_push(
    paths: Annotated[list[Path], typer.Argument(help="Campaign YAML files or folders")],
    aws: Annotated[bool, typer.Option("--aws", help="Upload to the deployed stack's campaigns bucket")] = False,
    bucket: Annotated[str | None, typer.Option(help="The campaigns bucket (with --aws)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who uploads (kept with the version; default: $USER)")] = None,
    url: UrlOption = None,
) -> None:
    """Validate, then upload (S3 keeps every version; a running journey keeps the version it
    entered with, and an invalid upload never replaces a running version)."""
    import os

    campaigns_validate(paths)
    files = definition_files(paths)
    _upload("campaigns", {path.name: path for path in files}, bucket, aws, url, by or os.environ.get("USER"))
    typer.echo(f"uploaded {len(files)} campaigns")


@campaigns_app.command("list")
def campaigns_list(
    aws: Annotated[bool, typer.Option("--aws", help="List the deployed stack's campaigns")] = False,
    bucket: Annotated[str | None, typer.Option(help="The campaigns bucket (with --aws)")] = None,
    url: UrlOption = None,
) -> None:
    """Each definition: id, enabled, the version that runs, the latest upload and its problem."""
    if aws:
        from nudgeloop.services import campaign_store

        if not bucket:
            raise typer.BadParameter("--bucket is required with --aws")
        typer.echo(json.dumps(campaign_store.listing(bucket), indent=2))
        return
    ask_local(url, "GET", "/_local/campaigns")


@campaigns_app.command("history")
def campaigns_history(
    campaign_id: Annotated[str, typer.Argument(help="The campaign's id")],
    aws: Annotated[bool, typer.Option("--aws", help="The deployed stack's campaigns bucket")] = False,
    bucket: Annotated[str | None, typer.Option(help="The campaigns bucket (with --aws)")] = None,
    url: UrlOption = None,
) -> None:
    """Every version of a definition, newest first: when and by whom it was uploaded, whether it
    is valid (and why not), and which one runs."""
    if aws:
        from nudgeloop.services import campaign_store

        if not bucket:
            raise typer.BadParameter("--bucket is required with --aws")
        typer.echo(json.dumps(campaign_store.history(bucket, campaign_id), indent=2))
        return
    ask_local(url, "GET", f"/_local/campaigns/{campaign_id}/history")


@campaigns_app.command("simulate")
def campaigns_simulate(
    path: Annotated[Path, typer.Argument(help="A campaign YAML file")],
    days: Annotated[int, typer.Option("--days", help="How many days ahead to forecast (1-366)")] = 30,
    url: UrlOption = None,
) -> None:
    """Forecast, against the data in the running local stack, how many customers would enter,
    get each step, be capped or exit in the next N days, before the campaign goes live."""
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}")
    ask_local(url, "POST", "/_local/campaigns/simulate", {"campaign": path.read_text(), "days": days})
