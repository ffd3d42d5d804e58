"""Campaign definitions in the (versioned) campaigns bucket, parsed once per object version."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from nudgeloop.adapters.aws import client
from nudgeloop.domain.campaigns import Campaign, DateTrigger
from nudgeloop.domain.dates import ALWAYS, DateRule
from nudgeloop.observability import logger

PREFIX = "campaigns/"


@dataclass(frozen=True)
class Pinned:
    campaign: Campaign
    version_id: str


class InvalidCampaign(ValueError):
    pass


def parse(text: str | bytes) -> Campaign:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidCampaign(f"not valid YAML: {exc}") from exc
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise InvalidCampaign(f"{field}: {err['msg']}") from exc


_by_version: dict[tuple[str, str], Pinned] = {}
_by_etag: dict[tuple[str, str], Pinned] = {}


def load_version(bucket: str, key: str, version_id: str) -> Campaign:
    cached = _by_version.get((key, version_id))
    if cached is not None:
        return cached.campaign
    args = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        args["VersionId"] = version_id
    body = client("s3").get_object(**args)["Body"].read()
    pinned = Pinned(parse(body), version_id)
    _by_version[(key, version_id)] = pinned
    return pinned.campaign


def active(bucket: str) -> list[Pinned]:
    """The current, valid, enabled campaigns (one List call; bodies fetched when they change)."""
    found: list[Pinned] = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=PREFIX):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"]
            if not key.endswith((".yaml", ".yml")):
                continue
            pinned = _by_etag.get((key, etag))
            if pinned is None:
                response = client("s3").get_object(Bucket=bucket, Key=key)
                try:
                    campaign = parse(response["Body"].read())
                except InvalidCampaign as exc:
                    logger.error("invalid campaign definition skipped", extra={"key": key, "error": str(exc)})
                    continue
                pinned = Pinned(campaign, response.get("VersionId") or "null")
                _by_etag[(key, etag)] = pinned
                _by_version[(key, pinned.version_id)] = pinned
            if pinned.campaign.enabled:
                found.append(pinned)
    return found


def date_rules(bucket: str) -> tuple[DateRule, ...]:
    """The date occasions to watch: the yearly ones plus every N-day offset a campaign asks for."""
    asked = {p.campaign.trigger.rule() for p in active(bucket) if isinstance(p.campaign.trigger, DateTrigger)}
    return tuple(sorted(set(ALWAYS) | asked))


def key_for(campaign_id: str) -> str:
    return f"{PREFIX}{campaign_id}.yaml"
