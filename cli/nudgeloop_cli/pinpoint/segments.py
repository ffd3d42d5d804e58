"""Pinpoint segments (``get-segment``) as audience definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nudgeloop.domain import ids

from .common import Migration, responses, slug


def _dimension(dimensions: dict[str, Any], where: str, out: Migration) -> list[dict[str, Any]] | None:
    """The audience conditions of one ``SegmentDimensions``; None if any part cannot be mapped."""
    conditions: list[dict[str, Any]] = []
    ok = True
    for group in ("Attributes", "UserAttributes"):
        for key, spec in (dimensions.get(group) or {}).items():
            if group == "UserAttributes" and key in ("FirstName", "LastName"):
                out.skip("segment", where, f"a condition on {key}: audiences select on attributes and behaviour")
                ok = False
                continue
            values = [str(v) for v in spec.get("Values") or []]
            kind = spec.get("AttributeType", "INCLUSIVE")
            name = ids.attribute_key(key)  # as the endpoints' attributes were imported
            if kind == "INCLUSIVE":
                conditions.append({"attribute": {"name": name, "in": values}})
            elif kind == "EXCLUSIVE":
                conditions.append({"not": {"attribute": {"name": name, "in": values}}})
            else:
                out.skip("segment", where, f"attribute {key}: the {kind} comparison is not mapped")
                ok = False
    country = (dimensions.get("Location") or {}).get("Country")
    if country:
        values = [str(v).upper() for v in country.get("Values") or []]
        condition: dict[str, Any] = {"profile": {"field": "country", "in": values}}
        conditions.append(condition if country.get("DimensionType", "INCLUSIVE") == "INCLUSIVE" else {"not": condition})
    demographic = dimensions.get("Demographic") or {}
    for key, spec in demographic.items():
        if (
            key == "Channel"
            and set(spec.get("Values") or []) <= {"EMAIL"}
            and spec.get("DimensionType", "INCLUSIVE") == "INCLUSIVE"
        ):
            continue  # every Nudgeloop customer is an e-mail customer
        out.skip("segment", where, f"demographic {key}: devices and channels other than e-mail are not kept")
        ok = False
    for key in ("Behavior", "Metrics", "UserAttributes.Metrics"):
        if dimensions.get(key):
            out.skip("segment", where, f"{key} conditions are not mapped (use an events or engagement condition)")
            ok = False
    return conditions if ok else None


def convert(directory: Path, out: Migration) -> dict[str, str]:
    """Pinpoint segment id -> audience id."""
    ids: dict[str, str] = {}
    for name, segment in responses(directory, "SegmentResponse", "Name", "segment", out):
        if segment.get("SegmentType") == "IMPORT" or segment.get("ImportDefinition"):
            out.skip("segment", name, "an imported (static) segment is a list, not a definition: give its members an attribute")
            continue
        conditions: list[dict[str, Any]] | None = []
        if segment.get("Dimensions"):
            conditions = _dimension(segment["Dimensions"], name, out)
        groups = (segment.get("SegmentGroups") or {}).get("Groups") or []
        combined: list[dict[str, Any]] = []
        for group in groups:
            if group.get("SourceSegments"):
                out.skip("segment", name, "a group built on other segments is not mapped")
                conditions = None
                break
            parts = [_dimension(d, name, out) for d in group.get("Dimensions") or []]
            if conditions is None or any(p is None for p in parts):
                conditions = None
                break
            flat = [{"all": p} if len(p or []) != 1 else (p or [])[0] for p in parts]
            kind = str(group.get("Type") or "ALL").lower()
            joined = ({"any" if kind == "any" else "all": flat} if len(flat) > 1 else flat[0]) if flat else {}
            combined.append({"not": joined} if kind == "none" and joined else joined)
        if conditions is None:
            continue
        include = str((segment.get("SegmentGroups") or {}).get("Include") or "ALL").lower()
        everything = [*conditions, *[c for c in combined if c]]
        if include == "any" and len(combined) > 1:
            everything = [*conditions, {"any": combined}]
        everyone = {"profile": {"field": "email", "exists": True}}  # a segment without conditions: every address
        where: dict[str, Any] = {"all": everything} if len(everything) > 1 else everything[0] if everything else everyone
        audience_id = slug(name)
        definition = {
            "id": audience_id,
            "name": name[:120],
            "description": f"Imported from Pinpoint segment {segment.get('Id', name)}",
            "where": where,
        }
        out.audiences[audience_id] = yaml.safe_dump(definition, sort_keys=False)
        if segment.get("Id"):
            ids[str(segment["Id"])] = audience_id
        out.count("segments_converted")
    return ids
