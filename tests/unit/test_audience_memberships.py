"""Saved audiences in campaigns, the pure parts: the trigger and the entry audience in a campaign
definition, the journey's occurrence of an entering, and the query of a day's changes (in
Athena's dialect for every shipped example)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot

from nudgeloop.domain import idempotency
from nudgeloop.domain.audience_memberships import changes_query, member_key
from nudgeloop.domain.audience_sql import compile_audience
from nudgeloop.domain.campaigns import AudienceTrigger
from nudgeloop.services import audiences, campaign_store
from nudgeloop.services.audience_snapshot import run_tables
from nudgeloop.services.campaign_store import InvalidCampaign

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = """
id: tea-welcome
name: Tea
trigger: {type: audience_entered, audience: tea-buyers}
audience: {saved: high-value, segment_in: [active]}
steps:
  - {id: hello, type: send, template: newsletter}
"""


def test_a_campaign_names_saved_audiences_as_trigger_and_entry() -> None:
    campaign = campaign_store.parse(CAMPAIGN.encode())
    assert isinstance(campaign.trigger, AudienceTrigger)
    assert campaign.trigger.matches({"audience_id": "tea-buyers"}) and not campaign.trigger.matches({"audience_id": "x"})
    assert campaign.saved_audiences() == {"tea-buyers", "high-value"}
    entry = campaign.audience
    assert entry is not None
    assert entry.admits("active", {}, frozenset({"high-value"}))
    assert not entry.admits("active", {}, frozenset())  # not a member
    assert not entry.admits("new", {}, frozenset({"high-value"}))  # every condition holds


@pytest.mark.parametrize("bad", ["Tea Buyers", "-tea", ""])
def test_a_saved_audience_id_is_validated_with_its_field(bad: str) -> None:
    with pytest.raises(InvalidCampaign) as refused:
        campaign_store.parse(CAMPAIGN.replace("audience: tea-buyers", f"audience: '{bad}'").encode())
    assert refused.value.field == "trigger.audience_entered.audience" and refused.value.line == 4


def test_each_evaluation_that_finds_a_customer_entering_is_its_own_occurrence() -> None:
    one = idempotency.trigger_occurrence("AudienceEntered", {"audience_id": "tea-buyers", "run": "r1"})
    assert one == idempotency.trigger_occurrence("AudienceEntered", {"audience_id": "tea-buyers", "run": "r1"})
    assert one != idempotency.trigger_occurrence("AudienceEntered", {"audience_id": "tea-buyers", "run": "r2"})


@pytest.mark.parametrize("path", sorted((ROOT / "audiences" / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_changes_query_of_every_example_is_athena_sql_reading_the_runs_tables(path: Path) -> None:
    audience = audiences.parse(path.read_text())
    query = changes_query(compile_audience(audience, datetime(2026, 1, 5, tzinfo=UTC)), audience.id)
    athena = query.for_athena(run_tables("r1"))
    tree = sqlglot.parse_one(athena, read="athena")
    assert {t.name for t in tree.find_all(sqlglot.exp.Table)} >= {"customers_r1", "raw_recs_r1"}
    assert f"LIKE '{member_key(audience.id, '')}%'" in athena
