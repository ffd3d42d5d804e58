"""``nudgeloop migrate pinpoint DIR``: a Pinpoint project's exports into the local or a deployed stack.

Converted (``pinpoint.convert``), checked as every upload is (templates rendered, campaigns and
audiences parsed), written to ``--out`` for review, then loaded: the endpoints as events through
``POST /v1/events``, the audiences through ``PUT /v1/audiences/{id}``, the templates and the
campaigns into their buckets (the local stack's, or with ``--aws`` the deployed ones). Nothing is
sent by the import: customers arrive as prospects with their consent, campaigns come last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import UrlOption

migrate_app = typer.Typer(help="Import from the tools a shop leaves behind.", no_args_is_help=True)


def _write(out: Path, files: dict[str, str]) -> dict[str, Path]:
    written: dict[str, Path] = {}
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written[rel] = path
    return written


def _check(migration: Any) -> None:
    """Drop what the stack would refuse (each named in the report): templates that do not render,
    campaigns and audiences that do not parse, and the campaigns that send a dropped template."""
    from nudgeloop.domain import mail
    from nudgeloop.services import audiences, campaign_store, templates

    def fetch(path: str) -> mail.Source | None:
        return mail.Source(migration.templates[path], "import") if path in migration.templates else None

    for report in templates.check_all(fetch, migration.templates):
        if not report.ok:
            migration.skip("template", report.template, json.dumps(report.problems))
            migration.templates = {k: v for k, v in migration.templates.items() if not k.startswith(report.template + "/")}
    for audience_id, text in list(migration.audiences.items()):
        try:
            audiences.parse(text)
        except audiences.InvalidAudience as exc:
            migration.skip("segment", audience_id, f"{exc.field}: {exc.reason}")
            migration.audiences.pop(audience_id)
    names = {path.split("/", 1)[0] for path in migration.templates}
    for campaign_id, text in list(migration.campaigns.items()):
        try:
            campaign = campaign_store.parse(text.encode())
        except campaign_store.InvalidCampaign as exc:
            migration.skip("journey", campaign_id, str(exc)[:500])
            migration.campaigns.pop(campaign_id)
            continue
        missing = sorted(t for t in templates.uses_of([campaign]) if t not in names)
        if missing:
            migration.skip("journey", campaign_id, f"sends templates that were not imported: {', '.join(missing)}")
            migration.campaigns.pop(campaign_id)


@migrate_app.command("pinpoint")
def pinpoint(
    directory: Annotated[Path, typer.Argument(help="Pinpoint exports: endpoints/, segments/, templates/, journeys/")],
    out: Annotated[Path, typer.Option("--out", help="Where the converted files and report.json are written")] = Path(
        "out/pinpoint"
    ),
    purpose: Annotated[str, typer.Option(help="The consent purpose of opt-ins and opt-outs, and of the journeys")] = "marketing",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Convert and check only; load nothing")] = False,
    aws: Annotated[bool, typer.Option("--aws", help="Templates and campaigns into the deployed stack's buckets")] = False,
    templates_bucket: Annotated[str | None, typer.Option(help="The templates bucket (with --aws)")] = None,
    campaigns_bucket: Annotated[str | None, typer.Option(help="The campaigns bucket (with --aws)")] = None,
    url: UrlOption = None,
) -> None:
    """Import a Pinpoint project: endpoints as customers (opt-outs as opt-out statements, inactive
    endpoints not mailable), segments as audiences, email templates as Jinja2, journeys as
    campaigns. Prints the report (counts, and every item not mapped with the reason)."""
    from nudgeloop_cli import pinpoint as converter
    from nudgeloop_cli.client import Client
    from nudgeloop_cli.content import _upload

    if not directory.is_dir():
        raise typer.BadParameter(f"not a directory: {directory}")
    if purpose not in ("newsletter", "marketing"):
        raise typer.BadParameter("purpose is newsletter or marketing")
    if aws and not (templates_bucket and campaigns_bucket):
        raise typer.BadParameter("--templates-bucket and --campaigns-bucket are required with --aws")
    migration = converter.convert(directory, purpose)
    _check(migration)
    templates = _write(out / "templates", migration.templates)
    audiences = _write(out / "audiences", {f"{k}.yaml": v for k, v in migration.audiences.items()})
    campaigns = _write(out / "campaigns", {f"{k}.yaml": v for k, v in migration.campaigns.items()})
    (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in migration.events))
    loaded: dict[str, int] = {}
    if not dry_run:
        client = Client(url)
        accepted = duplicates = 0
        for start in range(0, len(migration.events), 100):
            chunk = migration.events[start : start + 100]
            status, body = client.request("POST", "/v1/events", {"events": chunk})
            if status != 202:
                raise typer.BadParameter(f"POST /v1/events answered {status}: {body}")
            accepted, duplicates = accepted + body["accepted"], duplicates + body["duplicates"]
            for rejected in body["rejected"]:
                event = chunk[rejected["index"]]
                migration.skip("endpoint", event["customer_id"], f"{rejected['field']}: {rejected['reason']}")
        loaded.update(events_accepted=accepted, events_duplicate=duplicates)
        for rel, path in audiences.items():
            status, body = client.request("PUT", f"/v1/audiences/{rel.removesuffix('.yaml')}", raw=path.read_bytes())
            if status != 200:
                migration.skip("segment", rel, json.dumps(body))
        _upload("templates", templates, templates_bucket, aws, url, "pinpoint-import")
        _upload("campaigns", campaigns, campaigns_bucket, aws, url, "pinpoint-import")
        loaded.update(templates=len({r.split("/", 1)[0] for r in templates}), audiences=len(audiences), campaigns=len(campaigns))
    report = {**migration.report(), "loaded": loaded, "out": str(out)}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    typer.echo(json.dumps(report, indent=2))
