"""The erasure's rules (domain/erasure.py): what removes a person's lines and rows, and how their
journeys are found by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nudgeloop.domain import erasure, idempotency


def _line(customer_id: str, n: int) -> bytes:
    return json.dumps({"event_id": f"e{n}", "customer_id": customer_id}).encode() + b"\n"


def test_archive_lines_of_the_person_go_and_only_theirs() -> None:
    body = _line("c1", 1) + _line("c10", 2) + _line("c1", 3) + b"not json\n" + _line("x", 4)
    kept, removed = erasure.without_customer(body, "c1")
    assert removed == 2
    assert kept == _line("c10", 2) + b"not json\n" + _line("x", 4)
    assert erasure.without_customer(kept, "c1") == (kept, 0)


def test_csv_rows_with_an_erased_id_in_any_cell_go_and_the_header_stays() -> None:
    digests = frozenset({erasure.digest("c1")})
    text = b'customer_id,email,name\nc1,a@x.example,"Ada, L"\nc10,b@x.example,Bo\n'
    kept, removed = erasure.without_rows(text, "csv", digests)
    assert removed == 1 and kept == b"customer_id,email,name\nc10,b@x.example,Bo\n"
    result = b'"referrer","friend"\n"c7","c1"\n'  # an Athena result: the id in another column
    assert erasure.without_rows(result, "csv", digests) == (b"referrer,friend\n", 1)
    untouched = b"customer_id\nc2\n"
    assert erasure.without_rows(untouched, "csv", digests) == (untouched, 0)


def test_jsonl_rows_go_by_customer_id() -> None:
    digests = frozenset({erasure.digest("c1")})
    text = b'{"customer_id":"c1","email":"a@x"}\n{"customer_id":"c2"}\n'
    assert erasure.without_rows(text, "jsonl", digests) == (b'{"customer_id":"c2"}\n', 1)
    assert erasure.export_kind("publications/a/p/2026-01-01.jsonl") == "jsonl"
    assert erasure.export_kind("athena-results/x.csv.metadata") is None


def test_every_journey_of_the_customer_starts_with_the_prefix_and_no_one_elses_does() -> None:
    prefix = erasure.executions_prefix("welcome", "c1")
    for reentry, occurrence in (("never", "x"), ("every_occurrence", "a>b@2026-01-01"), ("after_days", "o2")):
        assert idempotency.execution_name("welcome", reentry, "c1", occurrence).startswith(prefix)
        assert not idempotency.execution_name("welcome", reentry, "c10", occurrence).startswith(prefix)
        assert not idempotency.execution_name("welcome-2", reentry, "c1", occurrence).startswith(prefix)


def test_the_erasure_id_names_no_one_and_the_last_copy_goes_after_the_longest_retention() -> None:
    eid = erasure.erasure_id("c1@example")
    assert eid == "er-" + erasure.digest("c1@example")[:32] != erasure.erasure_id("c1@example.")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert (erasure.last_copy_gone_by(at) - at).days == max(erasure.LAST_COPIES.values()) == 90
