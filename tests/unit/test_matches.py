"""A property match (domain/matches.py) means the same in a behaviour trigger, judged in Python,
as in an audience, judged in SQL by the embedded engine."""

from __future__ import annotations

from tests.unit.test_audiences import World, ago

MISSING = object()
CASES = [
    ({"eq": "gold"}, "gold"),
    ({"eq": "gold"}, "Gold"),
    ({"eq": 100}, 100),
    ({"eq": 100}, 100.0),
    ({"eq": 100}, "100"),
    ({"eq": True}, True),
    ({"eq": True}, "true"),
    ({"eq": False}, 0),
    ({"in": ["a", 2]}, 2),
    ({"in": ["a", 2]}, "b"),
    ({"min": 100}, 100),
    ({"min": 100}, 99.99),
    ({"gt": 20}, 20),
    ({"gt": 20}, 21),
    ({"gt": 20}, "21"),
    ({"lt": 5}, "five"),
    ({"max": 1}, True),
    ({"exists": True}, ""),
    ({"exists": True}, None),
    ({"exists": True}, MISSING),
    ({"exists": False}, MISSING),
    ({"exists": True}, []),
    ({"eq": "x"}, ["x"]),
    ({"min": 0}, {"a": 1}),
]


def test_a_property_match_means_the_same_in_a_trigger_as_in_an_audience() -> None:
    """Behaviour triggers judge an event's values in Python (``Match.holds``); audiences in SQL.
    On every case the two agree."""
    from nudgeloop.domain.matches import Match

    w = World()
    expected = []
    for i, (match, value) in enumerate(CASES):
        cid = f"c{i:02d}"
        w.customer(cid).event(cid, "custom.case", ago(days=1), **({} if value is MISSING else {"v": value}))
        holds = Match.model_validate(match).holds(None if value is MISSING else value)
        found = w.members({"events": {"type": "custom.case", "where": {"v": match}}})
        assert (cid in found) == holds, (match, value, holds)
        expected.append(holds)
    assert any(expected) and not all(expected)
