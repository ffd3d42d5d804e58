"""The raw archive: every stored event as one JSON line in S3, partitioned by arrival date.

Layout (Hive-style, so Athena or any BI tool can partition-prune)::

    archive/events/dt=2026-11-23/<first sequence>-<last sequence>.jsonl.gz

One object per stream batch and arrival day. The key is derived from the stream sequence
numbers, so a retried batch overwrites its own object; a batch split differently on retry can
repeat a line in a second object (at-least-once): readers de-duplicate by ``customer_id`` and
``event_id`` (an event id is unique within a customer's history only).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from nudgeloop.adapters import aws
from nudgeloop.layout import ARCHIVE_PREFIX


@dataclass(frozen=True)
class Line:
    sequence: str
    item: dict[str, Any]  # the stored event (DynamoDB image, deserialised)


def _event_line(item: dict[str, Any], sequence: str) -> dict[str, Any]:
    props = item.get("properties")
    return {
        "stream_sequence": sequence,  # lets a redrive find a failed record here after the stream let go
        "event_id": item["event_id"],
        "type": item["type"],
        "customer_id": item["customer_id"],
        "occurred_at": item["occurred_at"],
        "received_at": item["received_at"],
        "source": item["source"],
        "properties": json.loads(props) if isinstance(props, str) else (props or {}),
    }


def objects_for(lines: list[Line]) -> dict[str, bytes]:
    """The objects one batch writes: key -> gzipped JSON lines (one object per arrival day)."""
    by_day: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_day[str(line.item["received_at"])[:10]].append(line)
    out: dict[str, bytes] = {}
    for day, group in sorted(by_day.items()):
        key = f"{ARCHIVE_PREFIX}dt={day}/{group[0].sequence}-{group[-1].sequence}.jsonl.gz"
        body = "".join(json.dumps(_event_line(g.item, g.sequence), separators=(",", ":"), default=str) + "\n" for g in group)
        out[key] = gzip.compress(body.encode(), mtime=0)
    return out


def write(bucket: str, lines: list[Line]) -> int:
    """Write a batch's objects; returns how many were written."""
    s3 = aws.client("s3")
    written = objects_for(lines)
    for key, body in written.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson", ContentEncoding="gzip")
    return len(written)


def read(bucket: str, day: str) -> list[dict[str, Any]]:
    """Every archived event of one arrival day (tests, redrive, small exports)."""
    s3 = aws.client("s3")
    events: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ARCHIVE_PREFIX}dt={day}/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            events.extend(json.loads(line) for line in gzip.decompress(body).decode().splitlines() if line)
    return events
