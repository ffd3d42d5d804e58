"""Campaign and staircase analytics: attribution of orders, holdout comparison, the read models
behind ``/v1/analytics/...`` and the daily export to S3.

Counters are kept where things happen (sends, skips, caps, feedback, unsubscribes, entries), each
exactly once in the same transaction as its record. What needs time to pass runs in the daily
``analytics`` job: orders that arrived yesterday are attributed to the last campaign mail that
touched the customer within the attribution window (refunds take theirs back), and entries whose
window has closed are compared, treated against holdout.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.dal import campaign_stats, event_log, jobs, keys, ledger, step_tallies
from nudgeloop.domain.analytics import Touch, funnel, last_touch, uplift
from nudgeloop.layout import ANALYTICS_PREFIX
from nudgeloop.observability import logger
from nudgeloop.services import archive, campaign_store

MAX_STAIRCASE_DAYS = 400
CENT = Decimal("0.01")


def touches(customer_id: str) -> list[Touch]:
    """The customer's campaign mails (sent) and clicks in them."""
    found = [
        Touch(clock.parse_iso(e.sent_at), str(e.data["campaign_id"]), str(e.data["step_id"]), "sent")
        for e in ledger.ledger(customer_id)
        if e.status == "sent" and e.sent_at and e.data.get("campaign_id")
    ]
    for event in event_log.customer_events(customer_id, limit=1000):
        props = event.properties or {}
        if event.type == "email.clicked" and props.get("campaign_id"):
            found.append(Touch(event.occurred_at, str(props["campaign_id"]), str(props["step_id"]), "clicked"))
    return found


def _cents(total: Any) -> int | None:
    try:
        return int((Decimal(str(total)) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


def attribute(events: list[dict[str, Any]], window_days: int) -> dict[str, int]:
    """Attribute orders (``order.completed``) and take refunds (``order.refunded``) back, each once."""
    done = {"converted": 0, "unattributed": 0, "refunded": 0, "repeated": 0}
    seen: set[str] = set()
    for event in sorted(events, key=lambda e: (e["occurred_at"], e["event_id"])):
        if event["event_id"] in seen or event["type"] not in ("order.completed", "order.refunded"):
            continue
        seen.add(event["event_id"])
        props = event.get("properties") or {}
        order_id = str(props.get("order_id", ""))
        if not order_id:
            continue
        if event["type"] == "order.refunded":
            done["refunded"] += int(campaign_stats.reverse_conversion(event["customer_id"], order_id))
            continue
        touch = last_touch(clock.parse_iso(event["occurred_at"]), touches(event["customer_id"]), window_days)
        cents = _cents(props.get("total"))
        if touch is None or cents is None:
            done["unattributed"] += 1
            continue
        new = campaign_stats.record_conversion(
            order_id,
            event["customer_id"],
            touch.campaign_id,
            touch.step_id,
            cents,
            str(props.get("currency", "EUR")),
            event["occurred_at"],
        )
        done["converted" if new else "repeated"] += 1
    return done


def compare_entries(now: datetime, window_days: int) -> int:
    """Count every entry whose attribution window has closed as converted or not (the holdout
    comparison); returns how many were counted."""
    counted = 0
    for entry in list(campaign_stats.entries_due(now)):
        entered = clock.parse_iso(entry.entered_at)
        closes = entered + timedelta(days=window_days)
        ordered = any(
            entered < o.occurred_at <= closes and not o.refunded
            for o in (event_log.order_facts(entry.customer_id) if entry.customer_id else [])
        )
        group = "treated" if entry.outcome == "entered" else "control"  # the holdout is the control group
        counted += int(campaign_stats.evaluate_entry(entry, group, ordered))
    return counted


def campaigns(bucket: str) -> list[dict[str, Any]]:
    """``GET /v1/analytics/campaigns``: every campaign that runs (or ran), by id."""
    rows = {
        entry.running.campaign.id: {
            "campaign_id": entry.running.campaign.id,
            "name": entry.running.campaign.name,
            "enabled": entry.running.campaign.enabled,
        }
        for entry in campaign_store.entries(bucket)
        if entry.running is not None
    }
    return [rows[k] for k in sorted(rows)]


def campaign(campaign_id: str) -> dict[str, Any]:
    """``GET /v1/analytics/campaigns/{id}``: entries, the funnel per step and in total, revenue,
    and uplift against the holdout group."""
    stats = campaign_stats.campaign_stats(campaign_id)
    steps: dict[str, dict[str, int]] = {}
    revenue: dict[str, dict[str, Decimal]] = {}
    for step_id, kinds in stats.items():
        if step_id.startswith("_"):
            continue
        for kind, value in kinds.items():
            if kind.startswith("revenue:"):
                revenue.setdefault(step_id, {})[kind.split(":", 1)[1]] = (Decimal(value) / 100).quantize(CENT)
            else:
                steps.setdefault(step_id, {})[kind] = value
    out = funnel(steps, revenue, stats.get(keys.ENTRIES, {}))
    u = stats.get(keys.UPLIFT, {})
    out["uplift"] = uplift(u.get("treated", 0), u.get("treated_converted", 0), u.get("control", 0), u.get("control_converted", 0))
    return {"campaign_id": campaign_id, **out}


def staircase(first: date, last: date) -> dict[str, Any]:
    """``GET /v1/analytics/staircase``: customers per step at the end of each day, and the
    day's migrations between steps."""
    if last < first:
        raise ValueError("to is before from")
    if (last - first).days >= MAX_STAIRCASE_DAYS:
        raise ValueError(f"at most {MAX_STAIRCASE_DAYS} days")
    snapshots = step_tallies.segment_days(first, last)
    days = []
    day = first
    while day <= last:
        days.append({"day": day.isoformat(), "counts": snapshots.get(day.isoformat()), "flows": step_tallies.segment_flows(day)})
        day += timedelta(days=1)
    return {"from": first.isoformat(), "to": last.isoformat(), "now": step_tallies.segment_counts(), "days": days}


def export(bucket: str, day: date, campaign_ids: list[str]) -> list[str]:
    """Write the day's figures as JSON lines for BI tools (Athena, ...), one object per table:
    ``analytics/campaigns/dt=DAY/campaigns.jsonl`` and ``analytics/staircase/dt=DAY/...``."""
    s3 = aws.client("s3")
    rows = [json.dumps({"day": day.isoformat(), **campaign(cid)}, default=str) for cid in sorted(set(campaign_ids))]
    # yesterday's tallies were folded by the daily segment run before this job
    flows = {
        "day": day.isoformat(),
        "counts": step_tallies.segment_days(day, day).get(day.isoformat()),
        "flows": step_tallies.segment_flows(day, include_open=False),
    }
    keys = {
        f"{ANALYTICS_PREFIX}campaigns/dt={day.isoformat()}/campaigns.jsonl": "\n".join(rows) + ("\n" if rows else ""),
        f"{ANALYTICS_PREFIX}staircase/dt={day.isoformat()}/staircase.jsonl": json.dumps(flows) + "\n",
    }
    for key, body in keys.items():  # a re-run of the day replaces its own objects
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
    return sorted(keys)


RUN_KEY = "analytics"
CATCH_UP_DAYS = 7  # days a late run goes back for (arrival days not processed yet)


def daily(data_bucket: str, campaign_ids: list[str], window_days: int) -> dict[str, Any]:
    """The daily job: each arrival day since the last run (yesterday, normally) has its orders
    attributed and its figures exported; then every closed window is compared. Safe to repeat:
    conversions and comparisons are recorded once, exports replace their own objects."""
    now = clock.now()
    yesterday = now.date() - timedelta(days=1)
    state = jobs.run_state(RUN_KEY)
    first = date.fromisoformat(state["day"]) + timedelta(days=1) if state else yesterday
    first = max(first, yesterday - timedelta(days=CATCH_UP_DAYS - 1))
    result: dict[str, Any] = {"converted": 0, "unattributed": 0, "refunded": 0, "repeated": 0, "days": [], "exported": []}
    day = first
    while day <= yesterday:
        for key, value in attribute(archive.read(data_bucket, day.isoformat()), window_days).items():
            result[key] += value
        result["exported"] += export(data_bucket, day, campaign_ids)
        result["days"].append(day.isoformat())
        jobs.save_run_state(RUN_KEY, {"day": day.isoformat(), "at": clock.iso(now)})
        day += timedelta(days=1)
    result["entries_compared"] = compare_entries(now, window_days)
    logger.info("analytics run", extra={k: v for k, v in result.items() if k != "exported"})
    return result
