"""The embedded engine that stands in for Athena locally: DuckDB, in memory, holding the
audience tables (``domain/audience_schema.TABLES``) and running the compiled queries as they are."""

from __future__ import annotations

from typing import Any

import duckdb

from nudgeloop.domain.audience_schema import TABLES


class DuckDBEngine:
    """The audience tables in one in-memory DuckDB database."""

    def __init__(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        self.db = duckdb.connect(":memory:")
        for name, columns in TABLES.items():
            self.db.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})")
            found = rows.get(name, [])
            if found:
                marks = ", ".join("?" for _ in columns)
                self.db.executemany(f"INSERT INTO {name} VALUES ({marks})", found)  # noqa: S608 - names from TABLES

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.execute(sql).fetchall()

    def close(self) -> None:
        self.db.close()
