"""Campaign definitions in the (versioned) campaigns bucket, parsed once per object version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nudgeloop import clock, warm
from nudgeloop.adapters.aws import client
from nudgeloop.domain import definitions
from nudgeloop.domain.campaigns import BehaviourTrigger, Campaign, DateTrigger, ScheduleTrigger
from nudgeloop.domain.dates import ALWAYS, DateRule
from nudgeloop.layout import CAMPAIGN_PREFIX, CAMPAIGN_SUFFIXES
from nudgeloop.observability import logger

PREFIX = CAMPAIGN_PREFIX


@dataclass(frozen=True)
class Pinned:
    campaign: Campaign
    version_id: str


class InvalidCampaign(definitions.InvalidDefinition):
    """A campaign definition that cannot run, with where: ``line`` and ``field``."""


def parse(text: str | bytes) -> Campaign:
    return definitions.parse(text, Campaign, InvalidCampaign)


# Parsed definitions, per bucket (one stack per bucket; the same content may sit in several)
_by_version: dict[tuple[str, str, str], Pinned] = {}


def load_version(bucket: str, key: str, version_id: str) -> Campaign:
    cached = _by_version.get((bucket, key, version_id))
    if cached is not None:
        return cached.campaign
    args = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        args["VersionId"] = version_id
    body = client("s3").get_object(**args)["Body"].read()
    pinned = Pinned(parse(body), version_id)
    _by_version[(bucket, key, version_id)] = pinned
    return pinned.campaign


def _previous_valid(bucket: str, key: str, current: str) -> Pinned | None:
    """The newest earlier version of ``key`` that is valid (it keeps running meanwhile)."""
    versions = client("s3").list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    earlier = sorted(
        (v for v in versions if v["Key"] == key and v["VersionId"] != current), key=lambda v: v["LastModified"], reverse=True
    )
    for version in earlier:
        try:
            return Pinned(load_version(bucket, key, version["VersionId"]), version["VersionId"])
        except InvalidCampaign:
            continue
    return None


@dataclass(frozen=True)
class Entry:
    """What the bucket holds for one definition file: what runs, and why the newest may not."""

    key: str
    running: Pinned | None
    latest_version: str
    error: InvalidCampaign | None = None


_entries: dict[tuple[str, str, str], Entry] = {}


def forget() -> None:
    """Drop the parsed definitions (a warm container's cache)."""
    _by_version.clear()
    _entries.clear()


warm.keeps(forget)


def entries(bucket: str) -> list[Entry]:
    """Every definition file with the version that runs: the newest if it is valid, else the
    newest valid earlier one (an invalid upload never stops a running campaign)."""
    found: list[Entry] = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=PREFIX):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"]
            if not key.endswith(CAMPAIGN_SUFFIXES):
                continue
            entry = _entries.get((bucket, key, etag))
            if entry is None:
                response = client("s3").get_object(Bucket=bucket, Key=key)
                version = response.get("VersionId") or "null"
                try:
                    pinned = Pinned(parse(response["Body"].read()), version)
                    _by_version[(bucket, key, version)] = pinned
                    entry = Entry(key, pinned, version)
                except InvalidCampaign as exc:
                    previous = _previous_valid(bucket, key, version) if version != "null" else None
                    logger.error(
                        "invalid campaign definition: the previous valid version keeps running",
                        extra={"key": key, "error": str(exc), "running": previous.version_id if previous else None},
                    )
                    entry = Entry(key, previous, version, exc)
                _entries[(bucket, key, etag)] = entry
            found.append(entry)
    return found


def active(bucket: str) -> list[Pinned]:
    """The campaigns that take entries now (enabled, not drafts, within their period), each in
    the version that runs (one List call; bodies fetched only when they change)."""
    return active_in(entries(bucket))


def active_in(found: list[Entry]) -> list[Pinned]:
    """Of ``entries``, the versions that run and take entries now."""
    now = clock.now()
    return [e.running for e in found if e.running is not None and e.running.campaign.takes_entries(now)]


def listing(bucket: str) -> list[dict[str, Any]]:
    """``nudgeloop campaigns list``: id, the running and the latest version, and any problem."""
    rows = []
    for entry in entries(bucket):
        running = entry.running
        rows.append(
            {
                "key": entry.key,
                "id": running.campaign.id if running else None,
                "enabled": running.campaign.enabled if running else False,
                "draft": running.campaign.draft if running else False,
                "takes_entries": running.campaign.takes_entries(clock.now()) if running else False,
                "running_version": running.version_id if running else None,
                "latest_version": entry.latest_version,
                "latest_valid": entry.error is None,
                "problem": (
                    {"line": entry.error.line, "field": entry.error.field, "reason": entry.error.reason} if entry.error else None
                ),
            }
        )
    return rows


UPLOADED_BY = "uploaded-by"  # the object metadata naming who uploaded a version


def history(bucket: str, campaign_id: str) -> list[dict[str, Any]]:
    """``nudgeloop campaigns history ID``: every version of a definition, newest first, with when
    and by whom it was uploaded, whether it is valid (and why not) and which one runs."""
    key = key_for(campaign_id)
    running = next((e.running.version_id for e in entries(bucket) if e.key == key and e.running), None)
    s3 = client("s3")
    versions = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key]
    rows = []
    for version in sorted(versions, key=lambda v: v["LastModified"], reverse=True):
        version_id = version["VersionId"]
        found = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
        problem = None
        try:
            parse(found["Body"].read())
        except InvalidCampaign as exc:
            problem = {"line": exc.line, "field": exc.field, "reason": exc.reason}
        rows.append(
            {
                "version": version_id,
                "uploaded_at": clock.iso(version["LastModified"]),
                "uploaded_by": (found.get("Metadata") or {}).get(UPLOADED_BY),
                "valid": problem is None,
                "problem": problem,
                "running": version_id == running,
            }
        )
    return rows


# What the enabled campaigns (``active``, listed once by the caller) ask the pipeline to watch:


def date_rules(campaigns: Iterable[Pinned]) -> tuple[DateRule, ...]:
    """The date occasions to watch: the yearly ones plus every N-day offset a campaign asks for."""
    asked = {p.campaign.trigger.rule() for p in campaigns if isinstance(p.campaign.trigger, DateTrigger)}
    return tuple(sorted(set(ALWAYS) | asked))


def behaviour_triggers(campaigns: Iterable[Pinned]) -> tuple[tuple[str, BehaviourTrigger], ...]:
    """The ``behaviour`` triggers of enabled campaigns, by campaign id (processing judges each
    event against them, where its values are)."""
    return tuple((p.campaign.id, p.campaign.trigger) for p in campaigns if isinstance(p.campaign.trigger, BehaviourTrigger))


def schedules(campaigns: Iterable[Pinned]) -> list[tuple[str, ScheduleTrigger]]:
    """The recurring sends of enabled campaigns (newsletters), by campaign id."""
    return [(p.campaign.id, p.campaign.trigger) for p in campaigns if isinstance(p.campaign.trigger, ScheduleTrigger)]


def key_for(campaign_id: str) -> str:
    return f"{PREFIX}{campaign_id}.yaml"
