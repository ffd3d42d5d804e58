"""Export requests and the export query: columns and groups expand once, in order; the query
wraps the compiled audience and parses in Athena's dialect; the API's cold start stays off sqlglot."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot

from nudgeloop.domain import audience_exports as rules
from nudgeloop.domain.audience_sql import compile_audience
from nudgeloop.services import audiences

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_groups_expand_in_order_each_column_once_with_the_id_first() -> None:
    asked = rules.parse_request({"columns": ["name", "email", "first_name", "clv"]})
    assert asked.columns == ("customer_id", "first_name", "last_name", "email", *rules.GROUPS["clv"])
    assert rules.parse_request({}).columns == ("customer_id", "email") and rules.parse_request({}).format == "csv"
    with pytest.raises(rules.InvalidExport) as bad:
        rules.parse_request({"columns": ["email", "password"]})
    assert bad.value.field == "columns[1]" and "unknown column 'password'" in bad.value.reason


@pytest.mark.parametrize("path", sorted((ROOT / "audiences" / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_export_query_of_every_example_with_every_column_parses_in_athenas_dialect(path: Path) -> None:
    members = compile_audience(audiences.parse(path.read_text()), NOW)
    query = rules.export_query(members, rules.expand(tuple(rules.COLUMNS)), NOW)
    athena = query.for_athena({"customers": "customers_r1", "consents": "consents_r1", "mails": "mails_r1", "clv": "clv_r1"})
    parsed = sqlglot.parse_one(athena, read="athena")
    assert isinstance(parsed, sqlglot.exp.Select)
    assert {t.name for t in parsed.find_all(sqlglot.exp.Table)} >= {"customers_r1", "consents_r1", "mails_r1", "clv_r1"}
    assert [s.alias_or_name for s in parsed.selects] == list(rules.COLUMNS)


def test_only_the_tables_the_columns_read_are_joined() -> None:
    members = compile_audience(audiences.parse((ROOT / "audiences" / "examples" / "tea-buyers.yaml").read_text()), NOW)
    sql = rules.export_query(members, ("customer_id", "email"), NOW).sql
    assert "FROM consents" not in sql and "FROM mails" not in sql and "JOIN clv" not in sql


def test_the_api_handler_imports_without_sqlglot() -> None:
    """The audience compiler is imported when a query is built, not on every cold start."""
    code = "import sys, api; print('sqlglot' in sys.modules)"
    env_path = f"{ROOT / 'layers' / 'common'}:{ROOT / 'functions' / 'ingest'}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": env_path}, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
