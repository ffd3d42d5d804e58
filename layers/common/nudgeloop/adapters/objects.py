"""S3 objects written and read as streams: a file of any size passes through a function in
parts, never whole in its memory."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from nudgeloop.adapters.aws import client

PART_BYTES = 8 * 1024 * 1024  # S3's parts are at least 5 MiB (all but the last)


class ObjectWriter:
    """Bytes written to one object as they come: one PutObject if they stay under a part, else a
    multipart upload (aborted if the writer is left by an exception, so no part is billed on)."""

    def __init__(self, bucket: str, key: str, content_type: str) -> None:
        self.bucket, self.key, self.content_type = bucket, key, content_type
        self._buffer = bytearray()
        self._upload: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= PART_BYTES:
            self._part(bytes(self._buffer))
            self._buffer.clear()

    def _part(self, body: bytes) -> None:
        s3 = client("s3")
        if self._upload is None:
            self._upload = s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, ContentType=self.content_type)["UploadId"]
        number = len(self._parts) + 1
        answer = s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload, PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def close(self) -> None:
        s3 = client("s3")
        if self._upload is None:
            s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer), ContentType=self.content_type)
            return
        if self._buffer:
            self._part(bytes(self._buffer))
            self._buffer.clear()
        s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload, MultipartUpload={"Parts": self._parts}
        )

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif self._upload is not None:
            client("s3").abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload)


def csv_rows(bucket: str, key: str) -> Iterator[list[str]]:
    """The rows of a CSV object (UTF-8), read as a stream."""
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    lines = codecs.iterdecode(body.iter_lines(keepends=True), "utf-8")
    yield from csv.reader(lines)


# ------------------------------------------------------------------ versions (the buckets are versioned)


def versions(bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every version and delete marker under ``prefix``: ``Key``, ``VersionId``, ``IsLatest``,
    ``LastModified`` (a delete marker has ``DeleteMarker``)."""
    for page in client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Versions", [])
        for marker in page.get("DeleteMarkers", []):
            yield {**marker, "DeleteMarker": True}


def delete_versions(bucket: str, found: list[tuple[str, str]]) -> int:
    """Delete these ``(key, version id)``: gone for good, not hidden behind a delete marker
    (``DeleteObjects``, 1000 a request; a version that is gone already counts as deleted)."""
    s3 = client("s3")
    for start in range(0, len(found), 1000):
        chunk = [{"Key": k, "VersionId": v} for k, v in found[start : start + 1000]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchVersion"]
        if errors:
            raise RuntimeError(f"S3 did not delete {len(errors)} object versions: {errors[0].get('Code')}")
    return len(found)


def erase_object(bucket: str, key: str) -> int:
    """Every version of one object (and its delete markers); how many there were."""
    return delete_versions(bucket, [(v["Key"], v["VersionId"]) for v in versions(bucket, key) if v["Key"] == key])


def replace_object(bucket: str, key: str, body: bytes, **put: Any) -> None:
    """Write ``body`` as the object's only version: the new one is put, the older ones deleted."""
    written = client("s3").put_object(Bucket=bucket, Key=key, Body=body, **put).get("VersionId")
    older = [(v["Key"], v["VersionId"]) for v in versions(bucket, key) if v["Key"] == key and v["VersionId"] != written]
    delete_versions(bucket, older)
