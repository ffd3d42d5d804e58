"""SQS consumer of S3 notifications for ``templates/`` and ``campaigns/``: checks the uploaded
templates (every template, when a shared layout or partial changed), and the templates an
uploaded campaign sends, and records their status in the engine table (``nudgeloop templates
status``; an invalid template also logs an error, which alarms). A template the running
campaigns send is rendered against what each of their triggers provides; any other against
every name some trigger provides. So a campaign whose new version starts on another trigger
gets its templates checked against what that trigger provides.

The notifications of one batch (a folder pushed at once) are checked together: each affected
template once, against the files as they are now. If the check fails, every message of the
batch comes back (a check is idempotent)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.dal import audit
from nudgeloop.layout import CAMPAIGN_PREFIX
from nudgeloop.observability import logger, metrics, tracer
from nudgeloop.runtime import boot
from nudgeloop.services import campaign_store, sender, templates

settings = boot()
ROOT = "templates/"


def _all_paths() -> list[str]:
    paths = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=settings.templates_bucket, Prefix=ROOT):
        paths += [o["Key"].removeprefix(ROOT) for o in page.get("Contents", [])]
    return paths


def _created(body: str) -> list[dict[str, Any]]:
    """The records of an S3 notification that name a created object (none for S3's test event)."""
    return [r for r in json.loads(body).get("Records", []) if str(r.get("eventName", "")).startswith("ObjectCreated")]


def _object(record: dict[str, Any]) -> tuple[str, str]:
    return str(record["s3"]["bucket"]["name"]), unquote_plus(record["s3"]["object"]["key"])


def uploaded(body: str) -> list[tuple[str, str]]:
    """The (bucket, key) of every object an S3 notification names as created."""
    return [_object(r) for r in _created(body)]


def audit_uploads(body: str) -> None:
    """Who uploaded each template and campaign file, and which version (the audit trail): S3
    names the uploading principal and the version in its notification."""
    for r in _created(body):
        bucket, key = _object(r)
        kind = "template" if bucket == settings.templates_bucket else "campaign"
        name = key.removeprefix(ROOT) if kind == "template" else key.removeprefix(CAMPAIGN_PREFIX)
        principal = (r.get("userIdentity") or {}).get("principalId")
        details = {"key": key, "version_id": r["s3"]["object"].get("versionId"), "uploaded_at": r.get("eventTime")}
        who = f"iam:{principal}" if principal else "s3:unknown"
        when = clock.parse_iso(str(r["eventTime"])) if r.get("eventTime") else None
        once = hashlib.sha256(f"{key}|{details['version_id']}|{r['s3']['object'].get('eTag')}".encode()).hexdigest()[:12]
        audit.record(kind, name, "uploaded", who, details, at=when, entry_id=once)  # a redelivery: the same entry


@tracer.capture_method
def check_uploads(objects: set[tuple[str, str]]) -> None:
    paths = _all_paths()
    named = templates.templates_in(paths)
    entries = campaign_store.entries(settings.campaigns_bucket)
    running = [p.campaign for p in campaign_store.active_in(entries)]
    touched = {key.removeprefix(ROOT).split("/", 1)[0] for bucket, key in objects if bucket == settings.templates_bucket}
    # a shared file (layout, partial) can break any template; a template's own file, just it
    wanted = {n: named[n] for n in touched if n in named} if touched <= set(named) else named
    campaigns = {key for bucket, key in objects if bucket == settings.campaigns_bucket}
    if campaigns:  # the templates the uploaded campaigns send (drafts too), as the versions that run
        changed = [e.running.campaign for e in entries if e.key in campaigns and e.running is not None]
        wanted |= {n: named[n] for n in templates.uses_of(changed) if n in named}
    fetch = templates.snapshot(sender.template_fetch(settings.templates_bucket, cached=False))
    # a template the running campaigns send is checked against what their triggers provide
    uses = templates.uses_of(running)
    for name, locales in sorted(wanted.items()):
        report = templates.check(fetch, name, locales, uses.get(name))
        templates.record(report)
        if report.ok:
            logger.info("template valid", extra={"template": name, "locales": locales})
        else:
            logger.error("template invalid", extra={"template": name, "problems": report.problems})
        metrics.add_metric(name="TemplatesInvalid" if not report.ok else "TemplatesValid", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = list(SQSEvent(event).records)
    objects = {found for record in records for found in uploaded(record.body)}
    if not objects:
        return {"batchItemFailures": []}
    try:
        for record in records:
            audit_uploads(record.body)
        check_uploads(objects)
    except Exception:  # every notification of the batch comes back (the check is idempotent)
        logger.exception("template check failed", extra={"files": len(objects)})
        return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in records]}
    return {"batchItemFailures": []}
