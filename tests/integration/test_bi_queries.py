"""The example queries of docs/bi.md, as a BI tool sends them (Athena's dialect), run on the
embedded Athena over a snapshot: each parses as Athena's, succeeds with the rights the stack's
readers hold, and answers what the workload says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlglot

from tests.integration.test_audience_snapshot import _snapshot
from tests.integration.test_audience_sources import _workload

ROOT = Path(__file__).resolve().parents[2]
QUERIES = re.findall(r"```sql\n(.*?)```", (ROOT / "docs" / "bi.md").read_text(), flags=re.DOTALL)


def _rows(stack: Any, sql: str) -> list[dict[str, str | None]]:
    from nudgeloop.adapters import athena

    with stack.aws_lock, stack.enforcer.acting_as("ingest_api"):  # a reader's grants (docs/bi.md, access)
        query = athena.start(sql)
        found = athena.status(query)
        assert found.state == "SUCCEEDED", (found.reason, sql)
        rows, _next = athena.page(query, 1000, None)
    return rows


def test_every_example_query_parses_as_athenas_and_runs_over_the_snapshot(stack: Any) -> None:
    assert len(QUERIES) >= 8
    _workload(stack)
    _snapshot(stack)
    answers = []
    for sql in QUERIES:
        assert isinstance(sqlglot.parse_one(sql, read="athena"), sqlglot.exp.Select), sql
        answers.append(_rows(stack, sql))
    steps, revenue, categories, opt_in, engagement, _flows, clv, views = answers[:8]
    assert sum(int(r["customers"] or 0) for r in steps) == 3
    assert {(r["channel"], r["currency"]) for r in revenue} == {("webshop", "EUR"), ("store", "EUR")}
    assert ("tea", "2") in [(r["category"], r["units"]) for r in categories]
    assert [(r["country"], r["opted_in"]) for r in opt_in if r["country"] == "DE"] == [("DE", "1")]
    assert int(engagement[0]["opened"] or 0) == 1 and int(engagement[0]["sent"] or 0) >= 1
    assert sorted(r["band"] for r in clv) == ["100+", "25-100"]
    assert [(r["sku"], r["views"]) for r in views] == [("TEA-1", "1")]
