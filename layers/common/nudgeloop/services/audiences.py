"""Audiences: parsed from their definitions, compiled once per evaluation, run by an engine
(DuckDB in the local runtime, Athena in AWS: both hold the audience tables)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nudgeloop import clock
from nudgeloop.domain import definitions
from nudgeloop.domain.audiences import Audience


class InvalidAudience(definitions.InvalidDefinition):
    """An audience definition that cannot be evaluated, with where: ``line`` and ``field``."""


def parse(text: str | bytes) -> Audience:
    return definitions.parse(text, Audience, InvalidAudience)


class Engine(Protocol):
    def run(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Member:
    customer_id: str
    qualified_by: dict[str, Any]  # each condition's measure for this member ("where.all.1.orders": 2)


@dataclass(frozen=True)
class Evaluation:
    audience_id: str
    evaluated_at: datetime
    members: list[Member]

    @property
    def count(self) -> int:
        return len(self.members)

    def ids(self) -> list[str]:
        return [m.customer_id for m in self.members]


def evaluate(audience: Audience, engine: Engine, now: datetime | None = None) -> Evaluation:
    """The audience's members at ``now`` (the clock's now by default), in customer id order."""
    from nudgeloop.domain.audience_sql import compile_audience  # sqlglot: not on the API's cold start (audience_store)

    at = now or clock.now()
    compiled = compile_audience(audience, at)
    members = [
        Member(str(row[0]), {label: _plain(v) for label, v in zip(compiled.measures, row[1:], strict=True)})
        for row in engine.run(compiled.sql)
    ]
    return Evaluation(audience.id, at, members)


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of an audience definition (docs/audience.schema.json)."""
    schema = Audience.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nudgeloop.dev/audience.schema.json",
        **schema,
    }
