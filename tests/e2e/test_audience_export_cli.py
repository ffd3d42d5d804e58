"""``nudgeloop audiences export ID`` against a running local stack: the export is requested,
awaited, and its file downloaded through the link (the local server answers the presigned link,
which only its emulated S3 can)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nudgeloop_cli.local.server import Background
from nudgeloop_cli.main import app
from tests.integration.test_audience_exports import _setup


def test_export_writes_the_file_and_prints_the_export(stack, port: int, tmp_path: Path) -> None:
    _setup(stack)
    target = tmp_path / "everyone.jsonl"
    background = Background(stack, port).start()
    try:
        args = ["audiences", "export", "everyone", "--columns", "email,clv", "--format", "jsonl", "--out", str(target)]
        result = CliRunner().invoke(app, [*args, "--url", background.url])
        refused = CliRunner().invoke(app, ["audiences", "export", "everyone", "--columns", "pin", "--url", background.url])
    finally:
        background.stop()
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output[result.output.index("{") :])
    assert (printed["status"], printed["rows"], printed["file"]) == ("succeeded", 4, str(target))
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["customer_id"] for r in lines] == ["a1", "a2", "a3", "a4"] and lines[0]["clv_expected_value_12m"] == 120.5
    assert refused.exit_code == 1 and '"columns[0]"' in refused.output


def test_the_local_download_route_fetches_only_the_stacks_own_buckets(stack) -> None:
    from nudgeloop_cli.local.server import control

    for url in ("https://evil.example/x", "http://127.0.0.1:1/", "https://other-bucket.s3.amazonaws.com/k"):
        status, _h, body = control(stack, "POST", "/_local/download", json.dumps({"url": url}))
        assert status == 400 and json.loads(body)["error"]["field"] == "url", url
