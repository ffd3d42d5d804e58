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
