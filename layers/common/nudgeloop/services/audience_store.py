"""Saved audience definitions in the (versioned) campaigns bucket, ``audiences/<id>.yaml``: stored
only when valid, each upload a version with who uploaded it (``PUT /v1/audiences/{id}``,
``nudgeloop audiences push``)."""

from __future__ import annotations

from typing import Any

from nudgeloop import clock
from nudgeloop.adapters.aws import client
from nudgeloop.layout import AUDIENCE_PREFIX
from nudgeloop.services import audiences
from nudgeloop.services.audiences import InvalidAudience

UPLOADED_BY = "uploaded-by"  # the object metadata naming who uploaded a version
MAX_DEFINITION_BYTES = 64 * 1024


def key_for(audience_id: str) -> str:
    return f"{AUDIENCE_PREFIX}{audience_id}.yaml"


def put(bucket: str, audience_id: str, text: str, uploaded_by: str | None = None) -> dict[str, Any]:
    """Store a definition as the newest version of ``audience_id``; raises ``InvalidAudience``
    (line and field) for one that would not evaluate, or whose ``id`` is another."""
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidAudience(f"a definition may be at most {MAX_DEFINITION_BYTES} bytes")
    audience = audiences.parse(text)
    if audience.id != audience_id:
        raise InvalidAudience(f"the definition's id is {audience.id!r}, the path's {audience_id!r}", field="id")
    metadata = {UPLOADED_BY: uploaded_by} if uploaded_by else {}
    answer = client("s3").put_object(
        Bucket=bucket, Key=key_for(audience_id), Body=text.encode(), ContentType="application/yaml", Metadata=metadata
    )
    return {"id": audience.id, "name": audience.name, "version": answer.get("VersionId"), "stored_at": clock.iso(clock.now())}


def get(bucket: str, audience_id: str) -> dict[str, Any] | None:
    """The newest version: its id, name, description, version, when and by whom, the definition
    as uploaded and as parsed; None when there is none."""
    s3 = client("s3")
    try:
        found = s3.get_object(Bucket=bucket, Key=key_for(audience_id))
    except s3.exceptions.NoSuchKey:
        return None
    text = found["Body"].read().decode()
    audience = audiences.parse(text)  # stored only when valid
    return {
        "id": audience.id,
        "name": audience.name,
        "description": audience.description,
        "version": found.get("VersionId"),
        "uploaded_at": clock.iso(found["LastModified"]),
        "uploaded_by": (found.get("Metadata") or {}).get(UPLOADED_BY),
        "definition": audience.model_dump(mode="json", by_alias=True, exclude_none=True),
        "text": text,
    }


def listing(bucket: str) -> list[dict[str, Any]]:
    """Every saved audience's id, newest version and when it was uploaded, by id."""
    rows = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=AUDIENCE_PREFIX):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(".yaml"):
                rows.append(
                    {"id": key.removeprefix(AUDIENCE_PREFIX).removesuffix(".yaml"), "uploaded_at": clock.iso(obj["LastModified"])}
                )
    return sorted(rows, key=lambda r: r["id"])


def versions(bucket: str, audience_id: str) -> list[dict[str, Any]]:
    """Every version of a definition, newest first, with when and by whom it was uploaded."""
    s3 = client("s3")
    key = key_for(audience_id)
    found = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key]
    rows = []
    for version in sorted(found, key=lambda v: v["LastModified"], reverse=True):
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        rows.append(
            {
                "version": version["VersionId"],
                "uploaded_at": clock.iso(version["LastModified"]),
                "uploaded_by": (head.get("Metadata") or {}).get(UPLOADED_BY),
            }
        )
    return rows
