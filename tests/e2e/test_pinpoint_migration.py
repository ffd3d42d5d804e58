"""``nudgeloop migrate pinpoint`` with the sample export (examples/pinpoint-export: endpoints, two
segments, two templates, three journeys in the formats AWS documents) against a running local
stack: the report names every item not mapped; nothing is sent by the import; the imported
journey sends its first mail when a customer of its segment orders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from nudgeloop_cli.local.server import Background
from nudgeloop_cli.main import app
from tests.conftest import get_customer, order, post_events
from tests.integration.test_audience_snapshot import _snapshot

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "pinpoint-export"


def _migrate(stack: Any, port: int, out: Path, *extra: str) -> dict[str, Any]:
    background = Background(stack, port, pump=False).start()
    try:
        result = CliRunner().invoke(app, ["migrate", "pinpoint", str(SAMPLE), "--out", str(out), "--url", background.url, *extra])
    finally:
        background.stop()
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def test_the_sample_export_imports_with_its_report_and_the_journey_sends_its_first_mail(stack, port: int, tmp_path: Path) -> None:
    stack.settle()
    before = len(stack.outbox())
    report = _migrate(stack, port, tmp_path / "out")
    counts = report["counts"]
    assert (counts["endpoints"], counts["customers"], counts["mailable"], counts["opted_out"], counts["inactive"]) == (
        7,
        5,
        2,
        1,
        1,
    )
    assert (counts["segments_converted"], counts["templates_converted"], counts["journeys_converted"]) == (1, 1, 2)
    unmapped = {(u["kind"], u["item"]): u["reason"] for u in report["unmapped"]}
    assert "Nudgeloop mails only" in unmapped[("endpoint", "ep-ada-sms")]
    assert "second e-mail address" in unmapped[("endpoint", "ep-ada-old")]
    assert "Platform" in unmapped[("segment", "iOS users")]
    assert "{{#each Attributes.Interests}} is not supported" in unmapped[("template", "Interests")]
    assert "SMS activity is not mapped" in unmapped[("journey", "SMS reminder")]
    assert report["loaded"] == {"events_accepted": 8, "events_duplicate": 0, "templates": 1, "audiences": 1, "campaigns": 2}
    assert (tmp_path / "out" / "report.json").is_file() and (tmp_path / "out" / "campaigns" / "gold-welcome.yaml").is_file()
    stack.settle()
    assert len(stack.outbox()) == before  # nothing is sent by an import

    ada, bob, cy, dee = (get_customer(stack, c)[1] for c in ("u-ada", "u-bob", "u-cy", "u-dee"))
    assert ada["profile"]["email"] == "ada@customers.example" and ada["attributes"] == {"Interests": "tea", "Tier": "gold"}
    assert ada["consents"]["marketing"]["status"] == "opt_in" and ada["consents"]["marketing"]["source"] == "pinpoint-import"
    assert bob["consents"]["marketing"]["status"] == "opt_out" and bob["consents"]["marketing"]["source"] == "pinpoint-import"
    assert cy["consents"] == {} and "email" not in dee["profile"]  # inactive: not mailable; no e-mail endpoint
    assert _migrate(stack, port, tmp_path / "again")["loaded"]["events_duplicate"] == 8  # an import run twice changes nothing

    _snapshot(stack)  # the segment's audience is evaluated: u-ada and u-cy are gold members in DE
    stack.settle()
    post_events(stack, [order("u-ada", "o-1", at="2026-01-01T09:30:00Z"), order("u-cy", "o-2", at="2026-01-01T09:30:00Z")])
    stack.settle()
    mails = [m for m in stack.outbox() if m.get("campaign_id") == "gold-welcome"]
    assert [(m["customer_id"], m["step_id"]) for m in mails] == [("u-ada", "mail-1")]  # u-cy never consented
    assert mails[0]["subject"] == "Welcome to Gold, Ada"
