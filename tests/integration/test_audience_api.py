"""Saved audiences through the HTTP API: stored only when valid (the line and field named),
versioned, listed and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import KEY

ROOT = Path(__file__).resolve().parents[2]


def _put(stack: Any, audience_id: str, body: str, by: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {**KEY, **({"x-uploaded-by": by} if by else {})}
    status, _headers, answer = stack.api("PUT", f"/v1/audiences/{audience_id}", headers=headers, body=body)
    return status, json.loads(answer)


def _get(stack: Any, path: str) -> tuple[int, dict[str, Any]]:
    status, _headers, answer = stack.api("GET", path, headers=KEY)
    return status, json.loads(answer)


def test_a_saved_audience_is_versioned_listed_and_read_back(stack: Any) -> None:
    text = (ROOT / "audiences" / "examples" / "tea-buyers.yaml").read_text()
    status, first = _put(stack, "tea-buyers", text, by="marketing@shop.example")
    assert status == 200 and first["id"] == "tea-buyers" and first["version"]
    status, second = _put(stack, "tea-buyers", text.replace("name: ", "name: Tea lovers - ", 1))
    assert status == 200 and second["version"] != first["version"]
    status, found = _get(stack, "/v1/audiences/tea-buyers")
    assert status == 200
    assert found["name"].startswith("Tea lovers") and found["version"] == second["version"]
    assert [v["version"] for v in found["versions"]] == [second["version"], first["version"]]
    assert found["versions"][1]["uploaded_by"] == "marketing@shop.example"
    assert found["definition"]["where"]["orders"]["category"] == "tea" and found["text"].startswith("id: tea-buyers")
    as_json = json.dumps({"id": "high", "name": "High", "where": {"clv": {"value": "expected_value_12m", "range": {"gt": 100}}}})
    assert _put(stack, "high", as_json)[0] == 200  # JSON is YAML too
    status, listed = _get(stack, "/v1/audiences")
    assert status == 200 and [a["id"] for a in listed["audiences"]] == ["high", "tea-buyers"]


def test_a_definition_that_would_not_evaluate_is_refused_naming_line_and_field(stack: Any) -> None:
    bad = "id: broken\nname: Broken\nwhere:\n  orders:\n    total: {min: lots}\n"
    status, answer = _put(stack, "broken", bad)
    assert status == 400 and answer["error"]["line"] == 5 and answer["error"]["field"].startswith("where.orders.total")
    status, answer = _put(stack, "other", "id: broken\nname: Broken\nwhere: {step: {in: [new]}}\n")
    assert status == 400 and answer["error"]["field"] == "id"  # the path names another audience
    status, answer = _put(stack, "Bad_Id", "id: x\n")
    assert status == 400 and answer["error"]["field"] == "audience_id"
    status, answer = _put(stack, "empty", "  ")
    assert status == 400 and answer["error"]["field"] == "body"
    bomb = "id: bomb\nname: Bomb\na: &a [x, x]\nb: &b [*a, *a]\nwhere: {step: {in: [new]}}\n"
    status, answer = _put(stack, "bomb", bomb)
    assert status == 400 and "aliases" in answer["error"]["reason"]
    assert _get(stack, "/v1/audiences/broken")[0] == 404  # nothing invalid was stored
    assert _get(stack, "/v1/audiences")[1] == {"audiences": []}


def test_audiences_push_saves_the_shipped_examples_and_refuses_a_broken_file(stack: Any, port: int, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nudgeloop_cli.local.server import Background
    from nudgeloop_cli.main import app

    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nname: Broken\nwhere: {step: {in: []}, orders: {}}\n")
    background = Background(stack, port).start()
    try:
        pushed = CliRunner().invoke(
            app, ["audiences", "push", str(ROOT / "audiences" / "examples"), "--by", "ops", "--url", background.url]
        )
        listed = CliRunner().invoke(app, ["audiences", "list", "--url", background.url])
        refused = CliRunner().invoke(app, ["audiences", "push", str(broken), "--url", background.url])
    finally:
        background.stop()
    assert pushed.exit_code == 0, pushed.output
    assert [json.loads(line)["status"] for line in pushed.output.splitlines()] == [200] * 6
    shipped = sorted(p.stem for p in (ROOT / "audiences" / "examples").glob("*.yaml"))
    assert [a["id"] for a in json.loads(listed.output)["audiences"]] == shipped
    assert refused.exit_code == 1 and json.loads(refused.output.splitlines()[0])["file"] == str(broken)
