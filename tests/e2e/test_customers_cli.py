"""``nudgeloop customers export|erase|erasure`` against a running local stack (docs/privacy.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from nudgeloop_cli.local.server import Background
from nudgeloop_cli.main import app
from tests.conftest import consent, post_events, upsert


def _printed(output: str) -> dict[str, Any]:
    return json.loads(output[output.index("{") :])  # type: ignore[no-any-return]


def test_export_then_erase_then_the_erasure_and_nothing_left_to_export(stack: Any, port: int, tmp_path: Path) -> None:
    post_events(stack, [upsert("p1"), consent("p1"), upsert("p2")])
    stack.settle()
    target = tmp_path / "p1.json"
    background = Background(stack, port).start()
    try:
        url = ["--url", background.url]
        exported = CliRunner().invoke(app, ["customers", "export", "p1", "--out", str(target), *url])
        declined = CliRunner().invoke(app, ["customers", "erase", "p1", *url], input="n\n")
        erased = CliRunner().invoke(app, ["customers", "erase", "p1", "--yes", "--wait", "60", *url])
        shown = CliRunner().invoke(app, ["customers", "erasure", _printed(erased.output)["erasure_id"], *url])
        again = CliRunner().invoke(app, ["customers", "export", "p1", *url])
        kept = CliRunner().invoke(app, ["customers", "export", "p2", *url])
    finally:
        background.stop()
    assert exported.exit_code == 0, exported.output
    assert json.loads(target.read_text())["profile"]["email"] == "p1@customers.example"
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert erased.exit_code == 0, erased.output
    answer = _printed(erased.output)
    assert answer["status"] == "awaiting_snapshot" and answer["erased"]["customer"] == 1, answer
    assert shown.exit_code == 0 and _printed(shown.output)["erasure_id"] == answer["erasure_id"]
    assert again.exit_code == 1 and '"customer_id"' in again.output  # 404: nothing is held
    assert kept.exit_code == 0
