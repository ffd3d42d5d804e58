"""What the Pinpoint converters share: the migration being built and its report, names made
into our ids, and the reading of AWS's answer files."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nudgeloop.domain import ids
from nudgeloop.domain.events import MAX_TEXT

SOURCE = "pinpoint-import"
_SLUG = re.compile(r"[^a-z0-9-]+")


@dataclass
class Migration:
    events: list[dict[str, Any]] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)  # path under templates/ -> text
    audiences: dict[str, str] = field(default_factory=dict)  # audience id -> YAML
    campaigns: dict[str, str] = field(default_factory=dict)  # campaign id -> YAML
    counts: dict[str, int] = field(default_factory=dict)
    unmapped: list[dict[str, str]] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def skip(self, kind: str, item: str, reason: str) -> None:
        self.unmapped.append({"kind": kind, "item": item, "reason": reason})

    def note(self, kind: str, item: str, what: str) -> None:
        self.notes.append({"kind": kind, "item": item, "note": what})

    def report(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "unmapped": self.unmapped, "notes": self.notes}


def slug(name: str, limit: int = 40) -> str:
    """A Nudgeloop id (templates, audiences, campaigns) from a Pinpoint name."""
    text = _SLUG.sub("-", name.strip().lower()).strip("-")[:limit].strip("-")
    return text or "imported-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def customer_id(raw: str) -> str:
    """A Pinpoint user (or endpoint) id as a customer id: as it is when valid, else hashed."""
    return ids.id_or_hash(raw, "pp-")


def first_value(values: Any) -> str | None:
    """A Pinpoint attribute (a list of strings) as one value: the values joined with commas."""
    if isinstance(values, list):
        found = [str(v) for v in values if v not in (None, "")]
        return ", ".join(found)[:MAX_TEXT] if found else None
    return None if values in (None, "") else str(values)[:MAX_TEXT]


def responses(directory: Path, wrapper: str, name_key: str, kind: str, out: Migration) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, response) of each answer file in ``directory`` (bare or under ``wrapper``), counted;
    a file that is not a JSON object is reported."""
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            out.skip(kind, path.name, f"not JSON: {exc.msg}")
            continue
        response = raw.get(wrapper, raw) if isinstance(raw, dict) else None
        if not isinstance(response, dict):
            out.skip(kind, path.name, f"not a {wrapper}")
            continue
        out.count(f"{kind}s")
        yield str(response.get(name_key) or path.stem), response


def lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line for line in data.decode("utf-8").splitlines() if line.strip()]
