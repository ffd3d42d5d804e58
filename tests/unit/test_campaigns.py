from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nudgeloop.domain.campaigns import EXECUTION_NAME_RE, Campaign, Facts, execution_name, next_action
from nudgeloop.services.campaign_store import InvalidCampaign, parse

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def welcome() -> Campaign:
    return parse((ROOT / "campaigns/examples/welcome.yaml").read_text())


def facts(**over) -> Facts:
    return Facts(**{"segment": "new", "ordered_since_entry": False, "consent_ok": True, "has_email": True, **over})


def test_welcome_journey_sends_waits_then_follows_up(welcome: Campaign) -> None:
    state = {"cursor": 0}
    first = next_action(welcome, state, facts(), NOW)
    assert (first["action"], first["step_id"], first["template"]) == ("send", "welcome", "welcome")
    wait = next_action(welcome, first, facts(), NOW)
    assert wait["action"] == "wait"
    assert datetime.fromisoformat(wait["wait_until"]) == NOW + timedelta(days=3)
    early = next_action(welcome, wait, facts(), NOW + timedelta(days=1))
    assert early["action"] == "wait" and early["wait_until"] == wait["wait_until"]
    follow = next_action(welcome, wait, facts(), NOW + timedelta(days=3))
    assert (follow["action"], follow["step_id"]) == ("send", "followup")
    assert next_action(welcome, follow, facts(), NOW + timedelta(days=3))["action"] == "end"


def test_branch_ends_the_journey_when_they_ordered_again(welcome: Campaign) -> None:
    wait = next_action(welcome, next_action(welcome, {"cursor": 0}, facts(), NOW), facts(), NOW)
    done = next_action(welcome, wait, facts(ordered_since_entry=True), NOW + timedelta(days=3))
    assert (done["action"], done["reason"]) == ("end", "branch:ordered-again")


def test_marketing_journey_stops_when_consent_is_gone(welcome: Campaign) -> None:
    assert next_action(welcome, {"cursor": 0}, facts(consent_ok=False), NOW)["reason"] == "no_consent"


def test_execution_names_are_deterministic_and_valid(welcome: Campaign) -> None:
    weird = "cust/ü?*" + "x" * 300
    name = execution_name(welcome, weird, "prospect>new@2026-01-01")
    assert EXECUTION_NAME_RE.match(name)
    assert len(name) <= 80
    assert name == execution_name(welcome, weird, "other occurrence")  # reentry: never
    assert name != execution_name(welcome, weird + "1", "prospect>new@2026-01-01")
    again = welcome.model_copy(update={"reentry": "every_occurrence"})
    assert execution_name(again, "c", "a") != execution_name(again, "c", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: Bad Id\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: exit}]", "id"),
        ("id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: []", "steps"),
        (
            "id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\n"
            "steps: [{id: a, type: branch, if: {}, then: nowhere, else: end}]",
            "unknown target",
        ),
        ("id: x\nname: x\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: a, type: wait}]", "days or hours"),
        ("id: [unclosed", "YAML"),
    ],
)
def test_invalid_campaigns_are_rejected_with_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidCampaign, match=message):
        parse(text)
