"""Pinpoint journeys (``get-journey``) as campaign definitions: the activities laid out as steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from nudgeloop.domain import segment

from .common import Migration, responses, slug


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
        # event names as a tracker's (domain/segment), and Pinpoint's own purchase event
        mapped = segment.ORDER_EVENTS.get(name) or ("order.completed" if name == "_monetization.purchase" else None)
        event = mapped or segment.custom_type(name)
        audience = None
        if by_event.get("SegmentId"):
            if by_event["SegmentId"] not in segments:
                return None, None, f"its segment {by_event['SegmentId']} was not converted"
            audience = {"saved": segments[by_event["SegmentId"]]}
        return {"type": "behaviour", "event": event}, audience, None
    return None, None, "it has no segment or event start condition"


def convert(directory: Path, out: Migration, templates: dict[str, str], segments: dict[str, str], purpose: str) -> None:
    for name, journey in responses(directory, "JourneyResponse", "Name", "journey", out):
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
