"""Publications: an audience's members written every day to S3 for other tools, and announced to
the outbound webhooks subscribed to ``audience.published`` (docs/audiences.md, publications).

A saved audience's ``publish`` entries each name a format and columns, as an export does. When a
snapshot run becomes current, the snapshot function starts one export per publication
(``start_due``): its id is derived from the audience, the publication and the run, and its
record is created only if absent, so a sweep that runs again (or dies midway and is followed by
the next) starts none twice. The export function writes the file under
``publications/<audience>/<publication>/<day>.<ext>``, copies it to ``latest.<ext>`` beside it,
and publishes the announcement (``finish``): a signed POST to each subscribed endpoint, retried
and reported as every outbound webhook is (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.adapters.bus import BusEvent, EventBridgePublisher
from nudgeloop.config import settings
from nudgeloop.domain import webhooks
from nudgeloop.domain.events import AUDIENCE_PUBLISHED
from nudgeloop.layout import PUBLICATIONS_PREFIX
from nudgeloop.observability import logger
from nudgeloop.services import audience_exports, audience_store, audiences


def export_id(audience_id: str, publication_id: str, run: str) -> str:
    """The export that publishes ``publication_id`` of the audience for the snapshot ``run``."""
    return hashlib.sha256(f"{audience_id}|{publication_id}|{run}".encode()).hexdigest()[:16]


def key(audience_id: str, publication_id: str, name: str, kind: str) -> str:
    return f"{PUBLICATIONS_PREFIX}{audience_id}/{publication_id}/{name}.{kind}"


def start_due(bucket: str, snapshot: dict[str, Any]) -> list[str]:
    """Start the publications of every saved audience for the current ``snapshot`` run (each once);
    returns the export ids started now."""
    started = []
    for listed in audience_store.listing(bucket):
        saved = audience_store.get(bucket, listed["id"])
        if saved is None:  # pragma: no cover - deleted between the listing and the read
            continue
        for publication in audiences.parse(saved["text"]).publish:
            the_id = export_id(saved["id"], publication.id, snapshot["run"])
            day = clock.parse_iso(snapshot["built_at"]).date().isoformat()
            where = {"id": publication.id, "day": day, "key": key(saved["id"], publication.id, day, publication.format)}
            if audience_exports.start(saved, snapshot, publication, the_id, publication=where) is not None:
                started.append(the_id)
    if started:
        logger.info("publications started", extra={"run": snapshot["run"], "started": len(started)})
    return started


def finish(record: dict[str, Any], data_bucket: str) -> None:
    """The written publication copied to ``latest`` and announced (the export function)."""
    publication = record["publication"]
    latest = key(record["audience_id"], publication["id"], "latest", record["format"])
    client("s3").copy_object(Bucket=data_bucket, Key=latest, CopySource={"Bucket": data_bucket, "Key": record["key"]})
    file_name = f"{record['audience_id']}-{publication['id']}-{publication['day']}.{record['format']}"
    link = audience_exports.link(data_bucket, record["key"], file_name)
    data = {
        "audience_id": record["audience_id"],
        "publication_id": publication["id"],
        "day": publication["day"],
        "export_id": record["export_id"],
        "rows": record["rows"],
        "format": record["format"],
        "columns": record["columns"],
        "evaluated_at": record["evaluated_at"],
        "state_as_of": record["state_as_of"],
        "s3": {"bucket": data_bucket, "key": record["key"], "latest": latest},
        "download": link,  # a fresh one: GET /v1/audiences/{audience_id}/exports/{export_id}
    }
    detail = {"event_id": record["export_id"], "type": AUDIENCE_PUBLISHED, "at": clock.iso(clock.now()), "data": data}
    EventBridgePublisher(settings().bus_name).publish(
        [BusEvent(source=webhooks.BUS_SOURCE, detail_type=webhooks.BUS_DETAIL_TYPE, detail=detail)]
    )
