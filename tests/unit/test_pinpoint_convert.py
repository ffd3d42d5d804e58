"""Pinpoint's exports converted: Handlebars to Jinja2, journeys to campaign steps, segments to
audiences, endpoints to events; each awkward case reported, never guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nudgeloop.domain import mail
from nudgeloop.services import audiences, campaign_store, templates
from nudgeloop_cli import pinpoint

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pinpoint-export"


def _export(tmp_path: Path, kind: str, name: str, payload: Any) -> Path:
    (tmp_path / kind).mkdir(parents=True, exist_ok=True)
    target = tmp_path / kind / name
    target.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return tmp_path


def test_handlebars_becomes_jinja_with_the_defaults_and_unsupported_helpers_are_named_by_line() -> None:
    text, problems = pinpoint.handlebars(
        "Hi {{User.UserAttributes.FirstName}}\n{{#if Attributes.Plan}}{{lower Attributes.Plan}}{{else}}-{{/if}}{{! note }}",
        {"User.UserAttributes.FirstName": "there"},
        "t",
    )
    assert problems == []
    assert text == (
        'Hi {{ (customer.first_name or "there") }}\n{% if customer.attributes.get("Plan") %}'
        '{{ (customer.attributes.get("Plan") or "") | lower }}{% else %}-{% endif %}'
    )
    rendered = mail.environments(lambda _p: None)[1].from_string(text).render(mail.sample_context())
    assert rendered == "Hi Ada\n-"
    _text, problems = pinpoint.handlebars("a\n{{formatDate User.UserAttributes.Since}} {{Location.City}}", {}, "t")
    assert problems == [
        "t line 2: the helper {{formatDate User.UserAttributes.Since}} is not supported",
        "t line 2: no Nudgeloop value for {{Location.City}}",
    ]


def test_the_sample_converts_to_valid_definitions() -> None:
    migration = pinpoint.convert(SAMPLE)
    for text in migration.audiences.values():
        audiences.parse(text)
    for text in migration.campaigns.values():
        campaign_store.parse(text.encode())

    def fetch(path: str) -> mail.Source | None:
        return mail.Source(migration.templates[path]) if path in migration.templates else None

    assert all(r.ok for r in templates.check_all(fetch, migration.templates))
    reengage = yaml.safe_load(migration.campaigns["gold-re-engagement"])
    assert reengage["holdout_percent"] == 10.0 and reengage["trigger"] == {"type": "audience_entered", "audience": "gold-members"}
    assert [s["type"] for s in reengage["steps"]] == ["send", "wait", "branch", "split", "send"]
    assert reengage["reentry"] == "after_days" and reengage["reentry_days"] == 30 and reengage["draft"] is True


def test_converging_branches_jump_and_an_any_condition_becomes_a_chain(tmp_path: Path) -> None:
    journey = {
        "Name": "Converge",
        "State": "ACTIVE",
        "StartActivity": "split",
        "StartCondition": {"EventStartCondition": {"EventFilter": {"Dimensions": {"EventType": {"Values": ["Signed Up"]}}}}},
        "Activities": {
            "split": {"ConditionalSplit": {"Condition": {"Operator": "ANY", "Conditions": [
                {"EventCondition": {"Dimensions": {"EventType": {"Values": ["_email.open"]}}}},
                {"EventCondition": {"Dimensions": {"EventType": {"Values": ["_email.click"]}}}},
            ]}, "TrueActivity": "a", "FalseActivity": "b"}},
            "a": {"EMAIL": {"TemplateName": "T", "NextActivity": "last"}},
            "b": {"EMAIL": {"TemplateName": "T", "NextActivity": "last"}},
            "last": {"WAIT": {"WaitTime": {"WaitFor": "PT36H"}, "NextActivity": "final"}},
            "final": {"EMAIL": {"TemplateName": "T"}},
        },
    }  # fmt: skip
    _export(tmp_path, "templates", "t.json", {"TemplateName": "T", "Subject": "s", "HtmlPart": "<p>x</p>", "TextPart": "x"})
    migration = pinpoint.convert(_export(tmp_path, "journeys", "j.json", journey))
    campaign = yaml.safe_load(migration.campaigns["converge"])
    steps = [(s["id"], s["type"], s.get("then"), s.get("else")) for s in campaign["steps"]]
    assert steps == [
        ("split", "branch", "a", "split-2"),
        ("split-2", "branch", "a", "b"),
        ("a", "send", None, None),
        ("last", "wait", None, None),
        ("final", "send", None, None),
        ("final-end", "exit", None, None),  # the journey ends here: b's steps follow in the list
        ("b", "send", None, None),
        ("b-then", "branch", "last", "last"),  # b goes on to the wait, which sits after a
    ]
    assert campaign["steps"][3] == {"id": "last", "type": "wait", "days": 1, "hours": 12}
    assert campaign["trigger"] == {"type": "behaviour", "event": "custom.signed_up"}
    parsed = campaign_store.parse(migration.campaigns["converge"].encode())
    assert parsed.steps[6].id == "b"


def test_awkward_endpoints_users_segments_and_journeys_are_reported(tmp_path: Path) -> None:
    lines = [
        {"Id": "e1", "ChannelType": "EMAIL", "Address": "x@customers.example", "OptOut": "NONE", "EndpointStatus": "ACTIVE",
         "User": {"UserId": "user with spaces"}},
        {"Id": "e2", "ChannelType": "EMAIL", "Address": "y@customers.example", "OptOut": "ALL", "EndpointStatus": "ACTIVE"},
    ]  # fmt: skip
    _export(tmp_path, "endpoints", "part.json", "".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    _export(
        tmp_path,
        "segments",
        "s.json",
        {
            "Id": "s1",
            "Name": "Spenders",
            "Dimensions": {"Metrics": {"spend": {"ComparisonOperator": "GREATER_THAN", "Value": 10}}},
        },
    )
    _export(
        tmp_path,
        "journeys",
        "j.json",
        {"Name": "From segment", "StartCondition": {"SegmentStartCondition": {"SegmentId": "s1"}}, "Activities": {}},
    )
    migration = pinpoint.convert(tmp_path)
    customers = {e["customer_id"] for e in migration.events if e["type"] == "customer.upserted"}
    assert "e2" in customers  # no UserId: the endpoint's id
    assert next(c for c in customers if c != "e2").startswith("pp-")  # a UserId that is no id is hashed
    opted_out = [e for e in migration.events if e["type"] == "consent.changed" and e["customer_id"] == "e2"]
    assert opted_out[0]["properties"]["status"] == "opt_out" and opted_out[0]["properties"]["source"] == "pinpoint-import"
    reasons = {(u["kind"], u["item"]): u["reason"] for u in migration.unmapped}
    assert reasons[("endpoint", "part.json:3")].startswith("not JSON")
    assert "Metrics" in reasons[("segment", "Spenders")]
    assert reasons[("journey", "From segment")] == "its segment s1 was not converted"


def _on_event(kind: str) -> dict[str, Any]:
    return {"EventCondition": {"Dimensions": {"EventType": {"Values": [kind]}}}}


def test_a_multivariate_split_a_wait_until_and_a_later_holdout(tmp_path: Path) -> None:
    purchase = {"EventFilter": {"Dimensions": {"EventType": {"Values": ["_monetization.purchase"]}}}}
    journey = {
        "Name": "Paths",
        "State": "ACTIVE",
        "StartActivity": "first",
        "StartCondition": {"EventStartCondition": purchase},
        "Activities": {
            "first": {"EMAIL": {"TemplateName": "T", "NextActivity": "multi"}},
            "multi": {"MultiCondition": {"EvaluationWaitTime": {"WaitFor": "P1D"}, "DefaultActivity": "hold", "Branches": [
                {"Condition": _on_event("_email.click"), "NextActivity": "until"},
                {"Condition": _on_event("_email.open")},
            ]}},
            "until": {"WAIT": {"WaitTime": {"WaitUntil": "2026-12-24T17:00:00Z"}, "NextActivity": "xmas"}},
            "xmas": {"EMAIL": {"TemplateName": "T"}},
            "hold": {"Holdout": {"Percentage": 20, "NextActivity": "again"}},
            "again": {"EMAIL": {"TemplateName": "T"}},
        },
    }  # fmt: skip
    _export(tmp_path, "templates", "t.json", {"TemplateName": "T", "Subject": "s", "HtmlPart": "<p>x</p>", "TextPart": "x"})
    migration = pinpoint.convert(_export(tmp_path, "journeys", "j.json", journey))
    assert migration.unmapped == []
    campaign = yaml.safe_load(migration.campaigns["paths"])
    assert campaign["trigger"] == {"type": "behaviour", "event": "order.completed"}
    by_id = {s["id"]: s for s in campaign["steps"]}
    assert by_id["multi-wait"] == {"id": "multi-wait", "type": "wait", "days": 1}
    assert by_id["multi"] == {
        "id": "multi",
        "type": "branch",
        "if": {"clicked_since_entry": True},
        "then": "until",
        "else": "multi-2",
    }
    assert by_id["multi-2"] == {
        "id": "multi-2",
        "type": "branch",
        "if": {"opened_since_entry": True},
        "then": "end",
        "else": "hold",
    }
    assert by_id["until"]["until"] == {"anchor": "date", "day": "2026-12-24", "at_hour": 17}
    assert by_id["hold"] == {
        "id": "hold",
        "type": "split",
        "variants": [{"to": "end", "weight": 20}, {"to": "again", "weight": 80}],
    }
    assert "holdout_percent" not in campaign  # a holdout after the first mail is a split, not the control group
    campaign_store.parse(migration.campaigns["paths"].encode())
