"""``nudgeloop import FILE``: a CSV or JSON-lines file through the stack's S3 drop, with progress.

The file goes where a shop's export would go, ``imports/`` in the data bucket: of the running
local stack (``--url``), or of a deployed one (``--aws``, default AWS credentials). The stack
imports it (the bulk importer, as for any dropped file); this command follows its checkpoints
with a progress bar and prints the per-file report the importer writes next to the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nudgeloop.layout import IMPORT_PREFIX, IMPORT_SUFFIXES

POLL_S = 0.5


class ImportFailed(RuntimeError):
    pass


def data_rows(path: Path) -> int:
    """How many rows the importer will read (CSV: lines after the header; JSON lines: non-empty lines)."""
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - 1, 0) if path.suffix == ".csv" else lines


def object_name(path: Path, event_type: str | None) -> str:
    if not path.name.endswith(IMPORT_SUFFIXES):
        raise ImportFailed(f"{path.name}: the importer reads {' or '.join(IMPORT_SUFFIXES)} files")
    return f"type={event_type}/{path.name}" if event_type else path.name


class LocalTarget:
    """The running local stack's S3 drop (its local routes do what S3 and the importer do)."""

    def __init__(self, url: str | None) -> None:
        from nudgeloop_cli.client import Client

        self.client = Client(url)

    def upload(self, name: str, body: bytes) -> tuple[str, str]:
        status, answer = self.client.request("PUT", f"/_local/imports/{name}", key=False, raw=body)
        if status != 201:
            raise ImportFailed(f"the local stack refused the file ({status}): {answer}")
        return answer["key"], answer["version"]

    def status(self, key: str, version: str) -> dict[str, Any]:
        from urllib.parse import urlencode

        status, answer = self.client.request("GET", "/_local/imports?" + urlencode({"key": key, "version": version}), key=False)
        if status != 200:
            raise ImportFailed(f"the local stack answered {status}: {answer}")
        return dict(answer)


class AwsTarget:
    """A deployed stack's data bucket and engine table (the names its catalog gives them)."""

    def __init__(self, prefix: str) -> None:
        import boto3

        from nudgeloop.resources import catalog
        from nudgeloop_cli.aws_ops import bind_engine

        session = boto3.session.Session()
        account = session.client("sts").get_caller_identity()["Account"]
        self.bucket = catalog(prefix).bucket_name("data", account, str(session.region_name))
        self.s3 = session.client("s3")
        bind_engine(prefix)

    def upload(self, name: str, body: bytes) -> tuple[str, str]:
        key = IMPORT_PREFIX + name
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key, str(put["ETag"]).strip('"')

    def status(self, key: str, version: str) -> dict[str, Any]:
        from nudgeloop.services import bulk

        return bulk.status(self.s3, self.bucket, key, version)


def run(
    target: LocalTarget | AwsTarget,
    path: Path,
    event_type: str | None,
    on_progress: Callable[[int, int], None],
    timeout_s: float,
) -> dict[str, Any]:
    """Upload ``path`` and wait for its report; ``on_progress(rows read, rows in file)``."""
    name = object_name(path, event_type)
    total = data_rows(path)
    key, version = target.upload(name, path.read_bytes())
    deadline = time.monotonic() + timeout_s
    while True:
        state = target.status(key, version)
        if state["report"] is not None:
            on_progress(int(state["report"].get("rows", total)), total)
            return dict(state["report"])
        on_progress(int(state["progress"].get("rows", 0)), total)
        if time.monotonic() > deadline:
            raise ImportFailed(f"no report for {key} after {timeout_s:.0f} s (status {state['status']})")
        time.sleep(POLL_S)
