"""Amazon Pinpoint's exports converted to Nudgeloop (pure: files in, events and definitions out).

What a Pinpoint project exports, in the formats AWS documents:
- ``endpoints/``: the newline-delimited JSON ``CreateExportJob`` writes (``.json``, ``.jsonl`` or
  gzipped ``.gz``), one endpoint a line;
- ``segments/``: ``get-segment`` answers (``SegmentResponse``, or ``{"SegmentResponse": ...}``);
- ``templates/``: ``get-email-template`` answers (``EmailTemplateResponse``);
- ``journeys/``: ``get-journey`` answers (``JourneyResponse``).

Every item that cannot be mapped is in the report with the reason (docs/integrations.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

SOURCE = "pinpoint-import"
_ID = re.compile(r"^[A-Za-z0-9._:@+\-]{1,128}$")
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


def _customer_id(raw: str) -> str:
    return raw if _ID.fullmatch(raw) else "pp-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _first(values: Any) -> str | None:
    if isinstance(values, list):
        found = [str(v) for v in values if v not in (None, "")]
        return ", ".join(found)[:512] if found else None
    return None if values in (None, "") else str(values)[:512]


def _responses(directory: Path, wrapper: str, name_key: str, kind: str, out: Migration) -> Iterator[tuple[str, dict[str, Any]]]:
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


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line for line in data.decode("utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------ endpoints


def _endpoints(directory: Path, out: Migration, purpose: str) -> None:
    """Endpoints grouped by user: one customer each, their e-mail endpoint's address."""
    users: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(p for p in directory.glob("*") if p.is_file()):
        for number, line in enumerate(_lines(path), 1):
            try:
                endpoint = json.loads(line)
            except json.JSONDecodeError as exc:
                out.skip("endpoint", f"{path.name}:{number}", f"not JSON: {exc.msg}")
                continue
            out.count("endpoints")
            user = ((endpoint.get("User") or {}).get("UserId")) or None
            users.setdefault(str(user) if user else f"endpoint:{endpoint.get('Id')}", []).append(endpoint)
    for user, endpoints in sorted(users.items()):
        _user(user, endpoints, out, purpose)


def _user(user: str, endpoints: list[dict[str, Any]], out: Migration, purpose: str) -> None:
    raw = user.removeprefix("endpoint:")  # a user without a UserId: its endpoint's id
    customer = _customer_id(raw)
    if customer != raw:
        out.note("endpoint", user, f"not a Nudgeloop id: imported as {customer}")
    emails = [e for e in endpoints if e.get("ChannelType") == "EMAIL" and e.get("Address")]
    for other in (e for e in endpoints if e.get("ChannelType") != "EMAIL"):
        out.skip("endpoint", str(other.get("Id")), f"channel {other.get('ChannelType')}: Nudgeloop mails only")
    usable = sorted(
        emails, key=lambda e: (e.get("EndpointStatus") != "INACTIVE", e.get("OptOut") != "ALL", e.get("EffectiveDate") or "")
    )
    chosen = usable[-1] if usable else None
    for extra in usable[:-1]:
        out.skip("endpoint", str(extra.get("Id")), f"a second e-mail address of user {user}: a customer has one")
    base = chosen or endpoints[0]
    at = _when(base.get("EffectiveDate") or base.get("CreationDate"))
    user_attrs = (base.get("User") or {}).get("UserAttributes") or {}
    profile: dict[str, Any] = {}
    if chosen is not None:
        profile["email"] = str(chosen["Address"])
    else:
        out.note("user", user, "no e-mail endpoint: imported without an address (not mailable)")
    for key, name in (("FirstName", "first_name"), ("LastName", "last_name")):
        value = _first(user_attrs.get(key))
        if value:
            profile[name] = value
    demographic, location = base.get("Demographic") or {}, base.get("Location") or {}
    locale = re.fullmatch(r"([a-z]{2})(?:[_-]([A-Za-z]{2}))?", str(demographic.get("Locale") or ""))
    if locale:
        profile["locale"] = locale.group(1) + (f"-{locale.group(2).upper()}" if locale.group(2) else "")
    if demographic.get("Timezone"):
        profile["timezone"] = str(demographic["Timezone"])
    if re.fullmatch(r"[A-Za-z]{2}", str(location.get("Country") or "")):
        profile["country"] = str(location["Country"]).upper()
    attributes: dict[str, Any] = {}
    for source in (base.get("Attributes") or {}, {k: v for k, v in user_attrs.items() if k not in ("FirstName", "LastName")}):
        for key, values in source.items():
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key))[:64]
            value = _first(values)
            if name and value is not None:
                attributes[name] = value
    if attributes:
        profile["attributes"] = dict(list(attributes.items())[:50])
        if len(attributes) > 50:
            out.note("user", user, f"{len(attributes)} attributes: the first 50 imported")
    ident = hashlib.sha256(user.encode()).hexdigest()[:16]
    out.events.append(_event(f"pinpoint-{ident}-profile", "customer.upserted", customer, at, profile))
    out.count("customers")
    if chosen is None:
        return
    if chosen.get("OptOut") == "ALL":
        status = "opt_out"
        out.count("opted_out")
    elif chosen.get("EndpointStatus") == "INACTIVE":
        out.count("inactive")  # no statement: not mailable, as Pinpoint did not mail it
        return
    else:
        status = "opt_in"
        out.count("mailable")
    proof = {"pinpoint_endpoint_id": str(chosen.get("Id")), "pinpoint_opt_out": str(chosen.get("OptOut") or "NONE")}
    consent = {"purpose": purpose, "status": status, "source": SOURCE, "proof": proof}
    out.events.append(_event(f"pinpoint-{ident}-consent", "consent.changed", customer, at, consent))


def _when(value: Any) -> str:
    text = str(value or "")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return "2026-10-30T00:00:00Z"  # Pinpoint's end of support: the latest an endpoint can be from
    return parsed.isoformat() if parsed.tzinfo else parsed.isoformat() + "Z"


def _event(event_id: str, kind: str, customer: str, at: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "customer_id": customer,
        "occurred_at": at,
        "source": SOURCE,
        "properties": properties,
    }


# ------------------------------------------------------------------ templates

# Pinpoint's message variables as Jinja2 expressions of a send's context (docs/templates.md)
_VARIABLES = {
    "User.UserAttributes.FirstName": "customer.first_name",
    "User.UserAttributes.LastName": "customer.last_name",
    "User.UserId": "customer.id",
    "Demographic.Locale": "customer.locale",
}
_HELPERS = {"upper": "upper", "lower": "lower", "capitalize": "capitalize"}
_MUSTACHE = re.compile(r"\{\{\{?\s*(.*?)\s*\}?\}\}", re.S)


def _expression(name: str) -> str | None:
    if name in _VARIABLES:
        return _VARIABLES[name]
    for prefix in ("User.UserAttributes.", "Attributes."):
        if name.startswith(prefix) and re.fullmatch(r"[A-Za-z0-9_.-]+", name[len(prefix) :]):
            return f'customer.attributes.get("{name[len(prefix) :]}")'
    return None


def handlebars(text: str, defaults: dict[str, str], where: str) -> tuple[str, list[str]]:
    """Pinpoint's Handlebars as Jinja2, and what could not be converted (with its line)."""
    problems: list[str] = []

    def line_of(match: re.Match[str]) -> int:
        return text[: match.start()].count("\n") + 1

    def value(name: str, match: re.Match[str]) -> str | None:
        expression = _expression(name)
        if expression is None:
            problems.append(f"{where} line {line_of(match)}: no Nudgeloop value for {{{{{name}}}}}")
            return None
        fallback = defaults.get(name)
        return f"({expression} or {json.dumps(fallback)})" if fallback is not None else f'({expression} or "")'

    def convert(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("!"):
            return ""  # a Handlebars comment
        block = re.fullmatch(r"#(if|unless)\s+([A-Za-z0-9_.-]+)", inner)
        if block:
            expression = _expression(block.group(2))
            if expression is None:
                problems.append(f"{where} line {line_of(match)}: no Nudgeloop value for {block.group(2)}")
                return match.group(0)
            return f"{{% if {'not ' if block.group(1) == 'unless' else ''}{expression} %}}"
        if inner in ("/if", "/unless"):
            return "{% endif %}"
        if inner == "else":
            return "{% else %}"
        helper = re.fullmatch(r"(\w+)\s+([A-Za-z0-9_.-]+)", inner)
        if helper and helper.group(1) in _HELPERS:
            converted = value(helper.group(2), match)
            return match.group(0) if converted is None else f"{{{{ {converted} | {_HELPERS[helper.group(1)]} }}}}"
        if helper or inner.startswith(("#", "/", ">")):
            problems.append(f"{where} line {line_of(match)}: the helper {{{{{inner}}}}} is not supported")
            return match.group(0)
        converted = value(inner, match)
        return match.group(0) if converted is None else f"{{{{ {converted} }}}}"

    return _MUSTACHE.sub(convert, text), problems


def _templates(directory: Path, out: Migration) -> dict[str, str]:
    """Pinpoint template name -> Nudgeloop template name (only those converted)."""
    names: dict[str, str] = {}
    for name, template in _responses(directory, "EmailTemplateResponse", "TemplateName", "template", out):
        try:
            defaults = json.loads(template.get("DefaultSubstitutions") or "{}")
        except json.JSONDecodeError:
            defaults = {}
        target = slug(name)
        html = str(template.get("HtmlPart") or "")
        text = str(template.get("TextPart") or "") or re.sub(r"<[^>]+>", "", html)
        parts = {"subject.txt": str(template.get("Subject") or name), "body.html": html, "body.txt": text}
        converted: dict[str, str] = {}
        problems: list[str] = []
        for file, body in parts.items():
            converted[file], found = handlebars(body, {k: str(v) for k, v in defaults.items()}, f"{name} {file}")
            problems += found
        if problems:
            out.skip("template", name, "; ".join(problems))
            continue
        if "unsubscribe_url" not in converted["body.html"]:
            footer = '<p style="font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>\n'
            body = converted["body.html"]
            at = body.lower().rfind("</body>")
            converted["body.html"] = body[:at] + footer + body[at:] if at >= 0 else body + "\n" + footer
            converted["body.txt"] += "\n\nUnsubscribe: {{ unsubscribe_url }}\n"
            out.note("template", name, "an unsubscribe link was added (every marketing mail has one)")
        for file, body in converted.items():
            out.templates[f"{target}/{file}"] = body
        names[name] = target
        out.count("templates_converted")
    return names


# ------------------------------------------------------------------ segments


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
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:64]
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


def _segments(directory: Path, out: Migration) -> dict[str, str]:
    """Pinpoint segment id -> audience id."""
    ids: dict[str, str] = {}
    for name, segment in _responses(directory, "SegmentResponse", "Name", "segment", out):
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


# ------------------------------------------------------------------ journeys


def _duration(value: str) -> timedelta | None:
    """An ISO 8601 duration as Pinpoint writes them (``P1D``, ``PT12H``, ``P2DT6H``)."""
    found = re.fullmatch(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value or "")
    if not found or not any(found.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _wait(step_id: str, wait: dict[str, Any]) -> dict[str, Any] | str:
    """A wait step from a ``WaitTime``, or why not."""
    if wait.get("WaitFor"):
        span = _duration(str(wait["WaitFor"]))
        if span is None:
            return f"the wait {wait['WaitFor']} is no ISO 8601 duration"
        hours = round(span.total_seconds() / 3600)
        if hours < 1:
            return f"the wait {wait['WaitFor']} is under an hour (Nudgeloop waits whole hours)"
        return (
            {"id": step_id, "type": "wait", "days": hours // 24, "hours": hours % 24}
            if hours % 24
            else {"id": step_id, "type": "wait", "days": hours // 24}
        )
    if wait.get("WaitUntil"):
        moment = datetime.fromisoformat(str(wait["WaitUntil"]).replace("Z", "+00:00"))
        return {
            "id": step_id,
            "type": "wait",
            "until": {"anchor": "date", "day": moment.date().isoformat(), "at_hour": moment.hour},
        }
    return "a wait without WaitFor or WaitUntil"


def _condition(simple: dict[str, Any], segments: dict[str, str]) -> dict[str, Any] | str:
    """A branch condition from a Pinpoint ``SimpleCondition``, or why not."""
    event = simple.get("EventCondition")
    if event:
        kinds = set(((event.get("Dimensions") or {}).get("EventType") or {}).get("Values") or [])
        if kinds <= {"_email.open"} and kinds:
            return {"opened_since_entry": True}
        if kinds <= {"_email.click"} and kinds:
            return {"clicked_since_entry": True}
        if kinds and all(k in ("_monetization.purchase", "Order Completed", "purchase") for k in kinds):
            return {"ordered_since_entry": True}
        return f"the event condition {sorted(kinds)} is not mapped (opens, clicks and purchases are)"
    return "segment and metric conditions are not mapped (opens, clicks and purchases are)"


@dataclass
class _Walk:
    activities: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    placed: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    holdout: float = 0.0


def _sid(activity_id: str) -> str:
    return slug(activity_id, 60)


def _journey_steps(journey: dict[str, Any], templates: dict[str, str], segments: dict[str, str]) -> _Walk:
    """The activities as steps, in the order of a walk from the start; a step whose successor is
    not the next one is followed by a jump (a branch whose both ways lead there)."""
    walk = _Walk(dict(journey.get("Activities") or {}))
    start = journey.get("StartActivity")

    def jump(after: str, target: str | None) -> None:
        if target is None:
            walk.steps.append({"id": f"{after}-end", "type": "exit"})
        else:
            walk.steps.append({"id": f"{after}-then", "type": "branch", "if": {}, "then": _sid(target), "else": _sid(target)})

    def place(activity_id: str | None, after: str | None = None) -> None:
        """Place ``activity_id`` and what follows it; ``after`` is the step that falls through to it."""
        if activity_id is None:
            if after is not None:
                walk.steps.append({"id": f"{after}-end", "type": "exit"})
            return
        if activity_id in walk.placed:
            if after is not None:
                jump(after, activity_id)
            return
        activity = walk.activities.get(activity_id)
        if activity is None:
            walk.problems.append(f"activity {activity_id} is named but not defined")
            return
        walk.placed.add(activity_id)
        sid = _sid(activity_id)
        if activity.get("EMAIL") is not None:
            name = str(activity["EMAIL"].get("TemplateName") or "")
            if name not in templates:
                walk.problems.append(f"activity {activity_id}: its template {name!r} was not converted")
            walk.steps.append({"id": sid, "type": "send", "template": templates.get(name, slug(name or "missing"))})
            place(activity["EMAIL"].get("NextActivity"), sid)
        elif activity.get("WAIT") is not None:
            step = _wait(sid, activity["WAIT"].get("WaitTime") or {})
            if isinstance(step, str):
                walk.problems.append(f"activity {activity_id}: {step}")
                return
            walk.steps.append(step)
            place(activity["WAIT"].get("NextActivity"), sid)
        elif activity.get("Holdout") is not None:
            percent = float(activity["Holdout"].get("Percentage") or 0)
            nxt = activity["Holdout"].get("NextActivity")
            if not walk.steps and 0 <= percent <= 50:
                walk.holdout = percent  # the campaign's control group: measured, not only left out
                walk.placed.discard(activity_id)
                place(nxt)
                return
            kept = {"to": _sid(nxt) if nxt else "end", "weight": max(1, 100 - round(percent))}
            walk.steps.append({"id": sid, "type": "split", "variants": [{"to": "end", "weight": max(1, round(percent))}, kept]})
            if nxt:
                place(nxt)
        elif activity.get("RandomSplit") is not None:
            branches = activity["RandomSplit"].get("Branches") or []
            variants = [
                {
                    "to": _sid(b["NextActivity"]) if b.get("NextActivity") else "end",
                    "weight": max(1, round(float(b.get("Percentage") or 0))),
                }
                for b in branches
            ]
            walk.steps.append({"id": sid, "type": "split", "variants": variants})
            for branch in branches:
                place(branch.get("NextActivity"))
        elif activity.get("ConditionalSplit") is not None or activity.get("MultiCondition") is not None:
            _branches(activity_id, activity, walk, segments, place)
        else:
            kind = next((k for k in activity if k.isupper() or k in ("CUSTOM", "ContactCenter")), "unknown")
            walk.problems.append(f"activity {activity_id}: a {kind} activity is not mapped (Nudgeloop sends e-mail)")

    place(start)
    return walk


def _branches(activity_id: str, activity: dict[str, Any], walk: _Walk, segments: dict[str, str], place: Any) -> None:
    sid = _sid(activity_id)
    spec = activity.get("ConditionalSplit") or activity.get("MultiCondition") or {}
    wait = spec.get("EvaluationWaitTime") or {}
    if wait:
        step = _wait(f"{sid}-wait", wait)
        if isinstance(step, str):
            walk.problems.append(f"activity {activity_id}: {step}")
            return
        walk.steps.append(step)
    if activity.get("ConditionalSplit") is not None:
        condition = spec.get("Condition") or {}
        simple = [_condition(c, segments) for c in condition.get("Conditions") or []]
        if not simple or any(isinstance(c, str) for c in simple):
            walk.problems += [f"activity {activity_id}: {c}" for c in simple if isinstance(c, str)] or [
                f"activity {activity_id}: no condition"
            ]
            return
        yes, no = spec.get("TrueActivity"), spec.get("FalseActivity")
        targets = [_sid(yes) if yes else "end", _sid(no) if no else "end"]
        if str(condition.get("Operator") or "ALL") == "ALL":
            merged: dict[str, Any] = {}
            for c in simple:
                merged.update(c)  # type: ignore[arg-type]
            walk.steps.append({"id": sid, "type": "branch", "if": merged, "then": targets[0], "else": targets[1]})
        else:  # ANY: one branch per condition, each falling to the next
            for i, c in enumerate(simple):
                last = i == len(simple) - 1
                walk.steps.append({"id": f"{sid}-{i + 1}" if i else sid, "type": "branch", "if": c, "then": targets[0],
                                   "else": targets[1] if last else f"{sid}-{i + 2}"})  # fmt: skip
        place(yes)
        place(no)
        return
    branches = spec.get("Branches") or []
    default = spec.get("DefaultActivity")
    for i, branch in enumerate(branches):
        c = _condition(branch.get("Condition") or {}, segments)
        if isinstance(c, str):
            walk.problems.append(f"activity {activity_id}: {c}")
            return
        last = i == len(branches) - 1
        nxt = branch.get("NextActivity")
        walk.steps.append({"id": f"{sid}-{i + 1}" if i else sid, "type": "branch", "if": c, "then": _sid(nxt) if nxt else "end",
                           "else": (_sid(default) if default else "end") if last else f"{sid}-{i + 2}"})  # fmt: skip
    for branch in branches:
        place(branch.get("NextActivity"))
    place(default)


def _trigger(
    journey: dict[str, Any], segments: dict[str, str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """(trigger, audience, problem) of a journey's start condition."""
    from nudgeloop.domain.segment import ORDER_EVENTS

    start = journey.get("StartCondition") or {}
    by_segment = (start.get("SegmentStartCondition") or {}).get("SegmentId")
    by_event = start.get("EventStartCondition") or {}
    if by_segment:
        if by_segment not in segments:
            return None, None, f"its segment {by_segment} was not converted"
        return {"type": "audience_entered", "audience": segments[by_segment]}, None, None
    if by_event:
        kinds = ((by_event.get("EventFilter") or {}).get("Dimensions") or {}).get("EventType", {}).get("Values") or []
        if len(kinds) != 1:
            return None, None, f"it starts on {len(kinds)} event types (a campaign starts on one)"
        name = str(kinds[0])
        mapped = ORDER_EVENTS.get(name) or ("order.completed" if name == "_monetization.purchase" else None)
        event = mapped or "custom." + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:57] or "event")
        audience = None
        if by_event.get("SegmentId"):
            if by_event["SegmentId"] not in segments:
                return None, None, f"its segment {by_event['SegmentId']} was not converted"
            audience = {"saved": segments[by_event["SegmentId"]]}
        return {"type": "behaviour", "event": event}, audience, None
    return None, None, "it has no segment or event start condition"


def _journeys(directory: Path, out: Migration, templates: dict[str, str], segments: dict[str, str], purpose: str) -> None:
    for name, journey in _responses(directory, "JourneyResponse", "Name", "journey", out):
        trigger, audience, problem = _trigger(journey, segments)
        if problem:
            out.skip("journey", name, problem)
            continue
        walk = _journey_steps(journey, templates, segments)
        if walk.problems or not walk.steps:
            out.skip("journey", name, "; ".join(walk.problems) or "no activities")
            continue
        while walk.steps and walk.steps[-1]["type"] == "exit":
            walk.steps.pop()  # the last step ends the journey anyway
        campaign: dict[str, Any] = {
            "id": slug(name),
            "name": name[:120],
            "mail_kind": "marketing",
            "consent_purpose": purpose,
            "draft": journey.get("State") != "ACTIVE",
            "trigger": trigger,
        }
        if audience:
            campaign["audience"] = audience
        limits = journey.get("Limits") or {}
        cap = limits.get("EndpointReentryCap")
        interval = _duration(str(limits.get("EndpointReentryInterval") or ""))
        if cap in (None, 0, 1) and interval is None:
            campaign["reentry"] = "never"
        elif interval is not None and interval.days >= 1:
            campaign.update(reentry="after_days", reentry_days=interval.days)
        else:
            campaign["reentry"] = "every_occurrence"
        quiet = journey.get("QuietTime") or {}
        if quiet.get("Start") and quiet.get("End"):
            start_hour, end_hour = int(str(quiet["Start"])[:2]), int(str(quiet["End"])[:2])
            if end_hour < start_hour:  # quiet overnight: mail between its end and its start
                # Pinpoint's quiet time knows no public holidays
                campaign["send_window"] = {"from_hour": end_hour, "to_hour": start_hour, "skip_holidays": False}
            else:
                out.note("journey", name, "a daytime quiet time is not mapped (a send window is one span)")
        schedule = journey.get("Schedule") or {}
        for key, field_name in (("StartTime", "starts_at"), ("EndTime", "ends_at")):
            if schedule.get(key):
                campaign[field_name] = str(schedule[key])
        if walk.holdout:
            campaign["holdout_percent"] = walk.holdout
        campaign["steps"] = walk.steps
        out.campaigns[campaign["id"]] = yaml.safe_dump(campaign, sort_keys=False)
        out.count("journeys_converted")
        if campaign["draft"]:
            out.note("journey", name, f"state {journey.get('State')}: imported as a draft (set draft: false to start it)")


def convert(directory: Path, purpose: str = "marketing") -> Migration:
    """Everything under ``directory`` (``endpoints/``, ``segments/``, ``templates/``, ``journeys/``)."""
    out = Migration()
    if (directory / "endpoints").is_dir():
        _endpoints(directory / "endpoints", out, purpose)
    segments = _segments(directory / "segments", out) if (directory / "segments").is_dir() else {}
    templates = _templates(directory / "templates", out) if (directory / "templates").is_dir() else {}
    if (directory / "journeys").is_dir():
        _journeys(directory / "journeys", out, templates, segments, purpose)
    return out
