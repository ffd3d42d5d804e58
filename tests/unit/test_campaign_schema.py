"""Campaign definitions: the published JSON Schema, and problems reported with line and field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from nudgeloop.domain.campaigns import json_schema
from nudgeloop.services.campaign_store import InvalidCampaign, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "campaigns" / "examples").glob("*.yaml"))
WELCOME = (ROOT / "campaigns" / "examples" / "welcome.yaml").read_text()


def test_the_published_schema_is_the_models_and_the_examples_follow_it() -> None:
    published = json.loads((ROOT / "docs" / "campaign.schema.json").read_text())
    assert published == json_schema(), "run `nudgeloop campaign-schema > docs/campaign.schema.json`"
    assert EXAMPLES
    for path in EXAMPLES:
        jsonschema.validate(yaml.safe_load(path.read_text()), published)


def test_schema_and_model_reject_the_same_mistake() -> None:
    bad = WELCOME.replace("    template: welcome-followup", "    template: Welcome Followup")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(bad), json_schema())
    with pytest.raises(InvalidCampaign) as err:
        parse(bad)
    assert err.value.field == "steps.3.send.template"  # the fourth step
    assert err.value.line == bad.splitlines().index("    template: Welcome Followup") + 1


def test_a_missing_field_points_at_its_parent_and_broken_yaml_at_its_line() -> None:
    no_to = WELCOME.replace("  to: [new]\n", "")
    with pytest.raises(InvalidCampaign) as err:
        parse(no_to)
    assert err.value.field == "trigger.segment_migrated.to"
    assert err.value.line == no_to.splitlines().index("  type: segment_migrated") + 1
    with pytest.raises(InvalidCampaign) as err:
        parse("id: x\nsteps: [\n  - a\n")
    assert err.value.line is not None and "not valid YAML" in err.value.reason


def test_the_cli_reports_file_line_and_field(tmp_path: Path) -> None:
    from nudgeloop_cli.main import app

    (tmp_path / "ok.yaml").write_text(WELCOME)
    (tmp_path / "bad.yaml").write_text(WELCOME.replace("reentry: never", "reentry: sometimes"))
    result = CliRunner().invoke(app, ["campaigns", "validate", str(tmp_path)])
    assert result.exit_code == 1
    rows = {Path(r["file"]).name: r for r in json.loads(result.output)}
    assert rows["ok.yaml"]["valid"] is True
    assert rows["bad.yaml"]["field"] == "reentry" and rows["bad.yaml"]["line"] == WELCOME.splitlines().index("reentry: never") + 1
