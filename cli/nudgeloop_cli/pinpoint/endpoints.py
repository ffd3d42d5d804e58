"""Pinpoint endpoints (``CreateExportJob``'s lines) as profile and consent statements: one customer
per user, the address of their best e-mail endpoint."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from nudgeloop.domain import ids
from nudgeloop.domain.events import MAX_ATTRIBUTES_PER_EVENT

from .common import SOURCE, Migration, customer_id, first_value, lines


def convert(directory: Path, out: Migration, purpose: str) -> None:
    """Endpoints grouped by user: one customer each, their e-mail endpoint's address."""
    users: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(p for p in directory.glob("*") if p.is_file()):
        for number, line in enumerate(lines(path), 1):
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
    customer = customer_id(raw)
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
        value = first_value(user_attrs.get(key))
        if value:
            profile[name] = value
    demographic, location = base.get("Demographic") or {}, base.get("Location") or {}
    locale = ids.locale_tag(demographic.get("Locale"))
    if locale:
        profile["locale"] = locale
    if demographic.get("Timezone"):
        profile["timezone"] = str(demographic["Timezone"])
    if re.fullmatch(r"[A-Za-z]{2}", str(location.get("Country") or "")):
        profile["country"] = str(location["Country"]).upper()
    attributes: dict[str, Any] = {}
    for source in (base.get("Attributes") or {}, {k: v for k, v in user_attrs.items() if k not in ("FirstName", "LastName")}):
        for key, values in source.items():
            name = ids.attribute_key(str(key))
            value = first_value(values)
            if name and value is not None:
                attributes[name] = value
    if attributes:
        profile["attributes"] = dict(list(attributes.items())[:MAX_ATTRIBUTES_PER_EVENT])
        if len(attributes) > MAX_ATTRIBUTES_PER_EVENT:
            out.note("user", user, f"{len(attributes)} attributes: the first {MAX_ATTRIBUTES_PER_EVENT} imported")
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
