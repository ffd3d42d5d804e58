"""The chaos run's checks (bench/chaos.py): each reads the stack after the run and returns what
it found wrong; the run turns them into its invariants. Called with the stack's AWS lock held."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any


def invariants(
    stack: Any, accepted: dict[str, dict[str, Any]], answers: Counter[str], mails: list[str], injected: Counter[str]
) -> dict[str, dict[str, Any]]:
    from nudgeloop.dal import customer_store, event_log, ledger

    # an event is one per customer and event id (a migration's id repeats across customers)
    copies = Counter((e.customer_id, e.event_id) for e in event_log.all_events())
    sent = {(e["customer_id"], event_id) for event_id, e in accepted.items()}
    lost = sorted(f"{c}/{e}" for c, e in sent - set(copies))
    twice_stored = sorted(f"{c}/{e}" for (c, e), n in copies.items() if n > 1)
    lines = archived(stack)
    unarchived = sorted(f"{c}/{e}" for c, e in set(copies) - set(lines))
    wrong_totals = aggregates_wrong(accepted)
    key_of = {  # message id -> the ledger key (campaign#step#execution) that recorded it
        str(entry.data["message_id"]): f"{entry.customer_id}/{entry.key}"
        for customer in customer_store.all_customers()
        for entry in ledger.ledger(customer.customer_id)
        if entry.data.get("message_id")
    }
    by_key: Counter[str] = Counter()
    unrecorded = 0
    for message_id in mails:  # every mail SES accepted, kept across the restarts
        if message_id in key_of:
            by_key[key_of[message_id]] += 1
        else:
            unrecorded += 1
    twice = sum(1 for n in by_key.values() if n > 1)
    wrong_steps = misplaced(stack)
    running = {e.name for e in stack.watch.executions() if str(getattr(e.status, "value", e.status)) == "RUNNING"}
    from nudgeloop.dal import timers

    stuck = sorted(running - timers.parked_executions())
    crashes_after_ses = sum(n for rule, n in injected.items() if "crash-after=sesv2.SendEmail" in rule)
    server_errors = sum(n for status, n in answers.items() if status.startswith("5"))
    return {
        "every accepted event stored exactly once": {
            "held": not lost and not twice_stored,
            "count": len(accepted),
            "lost": lost[:10],
            "twice": twice_stored[:10],
        },
        "every stored event in the archive": {
            "held": not unarchived,
            "count": len(copies),
            "missing": unarchived[:10],
            "repeated_lines": sum(n - 1 for n in lines.values()),  # at least once: readers de-duplicate
        },
        "every customer's orders, revenue, first and last order as the orders sent give": {
            "held": not wrong_totals,
            "count": len({e["customer_id"] for e in accepted.values() if e["type"] in ORDER_EVENTS}),
            "wrong": wrong_totals[:5],
        },
        "no mail sent twice for one ledger key": {"held": twice == 0, "count": len(by_key), "twice": twice},
        "every mail without a ledger record explained by a crash after SES": {
            "held": unrecorded <= crashes_after_ses,
            "count": unrecorded,
            "crashes_after_ses": crashes_after_ses,
        },
        "every 5xx retried to a 202": {"held": True, "count": server_errors},  # else events() raised
        "every customer on the step their stored orders give": {
            "held": not wrong_steps,
            "count": len(list(customer_store.all_customers())),
            "misplaced": wrong_steps[:5],
        },
        "no journey running without a timer": {"held": not stuck, "count": len(running), "stuck": stuck[:5]},
    }


def misplaced(stack: Any) -> list[str]:
    """Customers whose step is not what the staircase gives for their orders as stored in the
    event log (a pure recomputation: ``domain/staircase.place``): today's, or for a customer due
    for review whom the daily run has not reached yet, the day before they fell due."""
    from nudgeloop.config import env_name
    from nudgeloop.dal import customer_store, event_log
    from nudgeloop.domain.aggregates import counted
    from nudgeloop.domain.staircase import Staircase, place

    stairs = Staircase.from_json(stack.settings_env()[env_name("staircase")])
    today = stack.clock.now().date()
    last_run = stack.scheduler.last_fired()["segment_daily"].date()
    wrong = []
    for customer in customer_store.all_customers():
        orders = counted(event_log.order_facts(customer.customer_id))
        as_of = today
        due = date.fromisoformat(customer.review_on) if customer.review_on else None
        if due is not None and due <= today and last_run < due:
            as_of = due - timedelta(days=1)  # due: the next daily run moves them (its time has not come)
        expected = place([(o.occurred_at.date(), o.total) for o in orders], as_of, stairs).step
        if customer.step != expected:
            wrong.append(f"{customer.customer_id}: {customer.step}, orders give {expected}")
    return wrong


ORDER_EVENTS = ("order.completed", "order.refunded")


def aggregates_wrong(accepted: dict[str, dict[str, Any]]) -> list[str]:
    """Customers whose orders, revenue and first and last order (as the API's customer view
    answers them) are not what the orders the shop sent give: a pure recomputation from the
    run's own record (each order's last statement, refunds applied: ``domain/aggregates``)."""
    from collections import defaultdict
    from decimal import Decimal

    from nudgeloop import clock
    from nudgeloop.domain.aggregates import OrderFact, aggregate
    from nudgeloop.services import customers

    stated: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    refunded: dict[str, set[str]] = defaultdict(set)
    for event in accepted.values():  # in the order the shop sent them
        order_id = str(event["properties"].get("order_id", ""))
        if event["type"] == "order.completed":
            stated[event["customer_id"]][order_id] = event
        elif event["type"] == "order.refunded":
            refunded[event["customer_id"]].add(order_id)
    wrong = []
    for customer_id in sorted(set(stated) | set(refunded)):
        facts = [
            OrderFact(
                order_id=order_id,
                occurred_at=clock.parse_iso(event["occurred_at"]),
                total=Decimal(str(event["properties"].get("total", "0"))),
                currency=str(event["properties"].get("currency", "")),
                refunded=order_id in refunded[customer_id],
            )
            for order_id, event in stated[customer_id].items()
        ]
        agg = aggregate(facts)
        expected = {
            "orders": agg.orders,
            "revenue": round(float(agg.revenue), 2),
            "first_order_at": clock.iso(agg.first_order_at) if agg.first_order_at else None,
            "last_order_at": clock.iso(agg.last_order_at) if agg.last_order_at else None,
        }
        seen = customers.view(customer_id)
        got = {k: (seen or {}).get("aggregates", {}).get(k) for k in expected}
        if got != expected:
            wrong.append(f"{customer_id}: {got}, the orders sent give {expected}")
    return wrong


def archived(stack: Any) -> Counter[tuple[str, str]]:
    """Lines per (customer, event id) in the S3 archive, over every arrival day of the run."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.layout import ARCHIVE_PREFIX
    from nudgeloop.services import archive

    bucket = stack.res.buckets["data"]
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ARCHIVE_PREFIX}dt=", Delimiter="/")
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    days = [prefix.removeprefix(f"{ARCHIVE_PREFIX}dt=").rstrip("/") for prefix in prefixes]
    return Counter((line["customer_id"], line["event_id"]) for day in days for line in archive.read(bucket, day))


def claims() -> list[tuple[str, str]]:
    """(campaign, execution) of every journey entry a trigger claimed (``campaign_stats.claim_entry``)."""
    from nudgeloop.dal import keys
    from nudgeloop.dal.models import EngineItem

    prefixes = (keys.claim("", "", "occurrence"), keys.claim("", "", "customer"))
    condition = EngineItem.pk.startswith(keys.campaign("")) & (
        EngineItem.sk.startswith(prefixes[0]) | EngineItem.sk.startswith(prefixes[1])
    )
    return [(keys.campaign_of(item.pk), str(item.status)) for item in EngineItem.scan(filter_condition=condition)]


def claims_without_journey(executions: set[str]) -> tuple[int, list[str]]:
    """(trigger claims, those whose journey never ran): a trigger that may start a journey
    claims its entry first, naming the execution; a claim whose execution no stack ran is a
    trigger lost between the two."""
    from nudgeloop.dal import keys

    found = claims()
    return len(found), sorted(f"{keys.campaign(c)}: {name}" for c, name in found if name not in executions)


def throttled(injected: Counter[str]) -> bool:
    return any(":throttle" in rule or ":fail-entries" in rule for rule, n in injected.items() if n)


def left_after_redrive(stack: Any, redriven: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """(dead letters left after the redrive, those that are events EventBridge could not
    deliver: the redrive leaves them, as there is no function to invoke again)."""
    left = sum(stack.dlq_depths().values())
    undelivered = sum(1 for r in redriven.values() for d in r.get("details", []) if "an undelivered event" in d)
    return left, undelivered


def dead_letters(stack: Any, injected: Counter[str]) -> tuple[int, list[str]]:
    """(dead letters left, those no injected fault explains): a letter names its function (a
    queue's consumer, or the function of Lambda's on-failure record); a fault of that function,
    or throttling of a service (which any function's retries can run out on), explains it."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.permissions import function_name

    sqs = client("sqs")
    faulted = {rule.split(":", 1)[0] for rule, n in injected.items() if n}
    any_throttled = throttled(injected)
    consumer = {q.dlq_name: next(f.key for f in stack.catalog.functions if f.queue_key == q.key) for q in stack.catalog.queues}
    names = {f.name: f.key for f in stack.catalog.functions}
    letters, unexplained = 0, []
    for dlq, url in stack.res.dlq_urls.items():
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        for message in found:  # a peek (visibility 0): at most ten a queue, enough to judge
            letters += 1
            try:
                arn = json.loads(message["Body"]).get("requestContext", {}).get("functionArn", "")
            except (ValueError, AttributeError):
                arn = ""
            function = names.get(function_name(arn), "") if arn else consumer.get(dlq, "")
            if not (function in faulted or any_throttled):
                unexplained.append(f"{dlq}: {function or 'an undelivered event'}")
    return letters, unexplained
