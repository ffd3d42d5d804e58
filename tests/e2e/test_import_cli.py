"""``nudgeloop import FILE`` against a running local stack: the file goes through the S3 drop and
the importer, and the command prints the importer's per-file report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nudgeloop_cli.local.server import Background
from nudgeloop_cli.main import app
from tests.conftest import get_customer

TILL_CSV = (
    "customer_id,occurred_at,order_id,total,currency,channel,items\n"
    'pos-1,2025-11-02T10:00:00Z,T-1,12.50,EUR,store,"[{""sku"": ""BREAD"", ""price"": ""2.50"", ""quantity"": 5}]"\n'
    "pos-2,2025-11-02T11:00:00Z,T-2,abc,EUR,store,[]\n"
    "\n"
    "pos-1,2025-11-03T10:00:00Z,T-3,7.00,EUR,store,[]\n"
)


def test_import_prints_the_report_and_the_rows_land(stack, port: int, tmp_path: Path) -> None:
    file = tmp_path / "till-2025-11.csv"
    file.write_text(TILL_CSV)
    background = Background(stack, port).start()
    try:
        result = CliRunner().invoke(app, ["import", str(file), "--type", "order.completed", "--url", background.url])
    finally:
        background.stop()
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["file"].endswith("/imports/type=order.completed/till-2025-11.csv")
    assert (report["status"], report["rows"], report["accepted"], report["rejected"]) == ("done", 3, 2, 1)
    assert report["rejections"] == [{"line": 3, "field": "properties.total", "reason": "Input should be a valid decimal"}]
    stack.settle()
    assert get_customer(stack, "pos-1")[1]["aggregates"]["orders"] == 2


def test_import_refuses_a_file_the_importer_would_not_read(stack, port: int, tmp_path: Path) -> None:
    file = tmp_path / "export.xlsx"
    file.write_bytes(b"PK\x03\x04")
    background = Background(stack, port).start()
    try:
        result = CliRunner().invoke(app, ["import", str(file), "--url", background.url])
    finally:
        background.stop()
    assert result.exit_code == 1
    assert "the importer reads .csv or .jsonl files" in result.output
