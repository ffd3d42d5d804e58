"""A chaos run: the demo shop's workload on a local stack with faults injected at a rate, then
the product's promises checked against the run's own record. Prints its figures; exits 1 when
an invariant is violated.

    .venv/bin/python bench/chaos.py [--days 30] [--customers 40] [--seed 7] [--rate 0.05] [--throttle-rate R] [--restarts 1]

The fault plan (``cli/nudgeloop_cli/local/faults.py``) gives every kind the rate as its
probability: crashed and timed-out invocations of the API, the events consumer, the journey
functions and the send function; a crash right after SES accepted a mail; batches delivered
twice, and batches with one record reported failed (a partial failure: delivered again from
it); PutEvents with every entry failed; throttled DynamoDB, Step Functions, SES and EventBridge
requests. A crash after the API stored an event is drawn per stored event, so it
gets a hundredth of the rate (a batch of 100 would otherwise almost always crash). The shop's
client retries an answer of 5xx, as the API asks it to. And the whole stack is stopped and
started again ``--restarts`` times, on evenly spaced days, as ``nudgeloop local serve --state``
does it: what it accepted is finished, its data saved, a new stack (with the same plan) loads
it and the shop goes on against the same address.

At the end the causes are fixed (no fault fires any more) and every dead-letter queue is
redriven as an operator does it (``nudgeloop dlq redrive``); the end state is then checked
against a pure recomputation from the run's own record. That is what "a redrive reaches the same
end state as a fault-free run" means here: a fault-free run of the same seed is not the same
workload (the shop opens and clicks the mails it sees, and faults change when they come), but
both must end where the recomputation says.

Invariants:
- every event the API accepted is stored exactly once (none lost, none twice);
- every customer's orders, revenue and first and last order (the API's customer view) are what
  the orders the shop sent give (each order's last statement, refunds applied);
- no mail was sent twice for one ledger key (journey, step, occurrence), and every mail SES took
  without a ledger record is one a crash after SES's answer explains;
- every 5xx the shop saw was retried to a 202;
- no journey ended by a fault (FAILED). The first run found 22 of 102 journeys ended by crashed
  Plan and Send tasks (the state machine retried Lambda's service errors only); both tasks are
  now tried again on any task failure (``journey_definition._CRASH_RETRY``). At 20 %, 2 of 45
  journeys still failed (a task failed all four tries: 0.2^4 a task); a task whose tries are
  spent now cools its journey down and plans it again (``journey_definition.RECOVERY_DELAYS_S``);
- no journey was lost at a restart (each was parked on a wait or done when the state was saved);
- every dead letter is explained by a fault (it names a function a fault was injected into,
  or services were throttled, which any function's retries can run out on);
- every dead letter was redriven, but events EventBridge could not deliver (which the redrive
  leaves, reported: there is no function to invoke again), and none was lost;
- every trigger that claimed a journey entry has its journey (no trigger lost between the claim
  and the start);
- every customer is on the step the staircase gives for their orders as stored (a pure
  recomputation from the event log, ``staircase.place``);
- no journey is running without a timer (every running execution is parked on a wait).

Injected faults are counted over every stack of the run; the mails are the last stack's SES
outbox, which the saved state carries over (with the ledger that names each).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))


def plan(rate: float, throttle_rate: float | None = None) -> str:
    """Every fault kind at ``rate`` (throttling at ``throttle_rate``, default the same: each
    throttled attempt waits out botocore's real backoff, so a high rate makes a slow run)."""
    per_call = rate / 100
    throttled = rate if throttle_rate is None else throttle_rate
    rules = [
        f"ingest_api:raise~{rate}",
        f"ingest_api:crash-after=dynamodb.PutItem~{per_call}",
        f"ingest_process:raise~{rate}",
        f"ingest_process:timeout~{rate}",
        f"ingest_process:duplicate~{rate}",
        f"ingest_process:fail-record~{rate}",
        f"segment_counts:duplicate~{rate}",
        f"segment_counts:fail-record~{rate}",
        f"trigger_start:raise~{rate}",
        f"trigger_start:duplicate~{rate}",
        f"trigger_start:fail-record~{rate}",
        f"journey_plan:raise~{rate}",
        f"send:raise~{rate}",
        f"send:crash-after=sesv2.SendEmail~{rate}",
        f"eventbridge.PutEvents:fail-entries~{rate}",
        f"dynamodb:throttle~{throttled}",
        f"sfn:throttle~{throttled}",
        f"sesv2:throttle~{throttled}",
    ]
    return ",".join(rules)


class _Earlier:
    """What the stacks stopped so far saw (a plain class: the suite loads this file by path)."""

    def __init__(self) -> None:
        self.faults: Counter[str] = Counter()
        self.not_parked = 0  # journeys between steps when their stack's state was saved
        self.restarts = 0
        self.executions: set[str] = set()  # journey names the stopped stacks ran (a restart forgets closed ones)


def run(
    days: int,
    customers: int,
    seed: int,
    rate: float,
    throttle_rate: float | None = None,
    restarts: int = 1,
    faults: str | None = None,
) -> dict[str, Any]:
    """The run's figures and invariants; ``faults``, a plan of its own in place of every kind
    at ``rate`` (tests)."""
    import tempfile

    from nudgeloop_cli.client import Client
    from nudgeloop_cli.demo import simulate
    from nudgeloop_cli.local import state as local_state
    from nudgeloop_cli.local.base import LOCAL_KEYS
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    port = free_port()
    faults = plan(rate, throttle_rate) if faults is None else faults

    def new_stack(n: int) -> Any:
        return LocalStack(
            clock_mode="simulated", public_base_url=f"http://127.0.0.1:{port}", faults=faults, fault_seed=seed + n
        ).start()

    stack = new_stack(0)
    stack.load_examples()
    background = Background(stack, port).start()
    accepted: dict[str, dict[str, Any]] = {}  # event id -> the event, as the shop last sent it
    answers: Counter[str] = Counter()
    earlier = _Earlier()  # what the stacks stopped so far saw
    restart_days = {(k + 1) * days // (restarts + 1) for k in range(restarts)} - {0, days}
    saved = Path(tempfile.mkdtemp(prefix="nudgeloop-chaos-"))

    def on_day(day: int, _traffic: dict[str, int]) -> None:
        """After the day: maybe stop the stack as `local serve` stops, and start it again."""
        nonlocal stack, background
        if day not in restart_days:
            return
        background.stop()
        stack.settle()
        counts = local_state.save(stack, saved)
        earlier.faults.update(stack.faults.injected)
        earlier.not_parked += counts.get("journeys_not_parked", 0)
        earlier.restarts += 1
        earlier.executions |= {e.name for e in stack.watch.executions()}
        stack.stop()
        stack = new_stack(earlier.restarts)
        local_state.restore(stack, saved)
        background = Background(stack, port).start()

    class Shop(Client):
        """The shop's client: a 5xx is retried (the API's answer asks for it), what was accepted
        is remembered."""

        def events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
            for _attempt in range(20):
                status, body = self.request("POST", "/v1/events", {"events": events})
                answers[str(status)] += 1
                if status < 500:
                    break
            if status != 202:
                raise RuntimeError(f"POST /v1/events answered {status} after retries: {body}")
            rejected = {r["index"] for r in body.get("rejected", [])}
            accepted.update((e["event_id"], e) for n, e in enumerate(events) if n not in rejected)
            return dict(body)

    try:
        traffic = simulate(Shop(background.url, LOCAL_KEYS["ingest"]), random.Random(seed), customers, days, on_day)
        stack.settle()
        injected = earlier.faults + stack.faults.injected
        dlqs = {name: depth for name, depth in stack.dlq_depths().items() if depth}
        with stack.aws_lock:
            letters, unexplained = _dead_letters(stack, injected)
        # the causes fixed (no fault from here on), every dead letter is redriven, as an operator
        # does (`nudgeloop dlq redrive`); the end state is then checked against a recomputation
        stack.faults.off()
        redriven = {name: stack.redrive(name) for name in dlqs}
        stack.settle()
        with stack.aws_lock:
            checks = _invariants(stack, accepted, answers, stack.mailbox.accepted_ids(), injected)
            checks["every dead letter explained by a fault"] = {
                "held": not unexplained,
                "count": letters,
                "unexplained": unexplained[:5],
            }
            left, undelivered = _left_after_redrive(stack, redriven)
            explained = undelivered == 0 or _throttled(injected)  # undelivered: PutEvents failed or throttled
            checks["every dead letter redriven (but events EventBridge could not deliver)"] = {
                "held": left == undelivered and explained and not any(r.get("lost") for r in redriven.values()),
                "count": sum(r.get("redriven", 0) for r in redriven.values()),
                "left": left,
                "lost": sum(r.get("lost", 0) for r in redriven.values()),
                "undelivered_events": undelivered,
            }
            without = _claims_without_journey(earlier.executions | {e.name for e in stack.watch.executions()})
            checks["every trigger claimed has its journey"] = {
                "held": not without[1],
                "count": without[0],
                "without": without[1][:5],
            }
            journeys = dict(stack.journey_statuses())
            checks["no journey ended by a fault"] = {"held": journeys.get("FAILED", 0) == 0, "count": sum(journeys.values())}
            checks["no journey lost at a restart"] = {
                "held": earlier.not_parked == 0,
                "count": earlier.restarts,
                "not_parked": earlier.not_parked,
            }
    finally:
        background.stop()
        stack.stop()
        local_state.clear(saved)
    return {
        "days": days,
        "customers": customers,
        "seed": seed,
        "rate": rate,
        "throttle_rate": rate if throttle_rate is None else throttle_rate,
        "traffic": traffic,
        "answers": dict(answers),
        "faults_injected": dict(sorted(injected.items())),
        "restarts": earlier.restarts,
        "dlq_depths": dlqs,
        "redriven": {name: {k: v for k, v in r.items() if k != "details"} for name, r in redriven.items()},
        "journeys": journeys,
        "invariants": checks,
    }


def _invariants(
    stack: Any, accepted: dict[str, dict[str, Any]], answers: Counter[str], mails: list[str], injected: Counter[str]
) -> dict[str, dict[str, Any]]:
    from nudgeloop.dal import customer_store, event_log, ledger

    # an event is one per customer and event id (a migration's id repeats across customers)
    copies = Counter((e.customer_id, e.event_id) for e in event_log.all_events())
    sent = {(e["customer_id"], event_id) for event_id, e in accepted.items()}
    lost = sorted(f"{c}/{e}" for c, e in sent - set(copies))
    twice_stored = sorted(f"{c}/{e}" for (c, e), n in copies.items() if n > 1)
    archived = _archived(stack)
    unarchived = sorted(f"{c}/{e}" for c, e in set(copies) - set(archived))
    wrong_totals = _aggregates_wrong(accepted)
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
    misplaced = _misplaced(stack)
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
            "repeated_lines": sum(n - 1 for n in archived.values()),  # at least once: readers de-duplicate
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
            "held": not misplaced,
            "count": len(list(customer_store.all_customers())),
            "misplaced": misplaced[:5],
        },
        "no journey running without a timer": {"held": not stuck, "count": len(running), "stuck": stuck[:5]},
    }


def _misplaced(stack: Any) -> list[str]:
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


def _aggregates_wrong(accepted: dict[str, dict[str, Any]]) -> list[str]:
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


def _archived(stack: Any) -> Counter[tuple[str, str]]:
    """Lines per (customer, event id) in the S3 archive, over every arrival day of the run."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.layout import ARCHIVE_PREFIX
    from nudgeloop.services import archive

    bucket = stack.res.buckets["data"]
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ARCHIVE_PREFIX}dt=", Delimiter="/")
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    days = [prefix.removeprefix(f"{ARCHIVE_PREFIX}dt=").rstrip("/") for prefix in prefixes]
    return Counter((line["customer_id"], line["event_id"]) for day in days for line in archive.read(bucket, day))


def _claims_without_journey(executions: set[str]) -> tuple[int, list[str]]:
    """(trigger claims, those whose journey never ran): a trigger that may start a journey
    claims its entry first (``campaign_stats.claim_entry``), naming the execution; a claim whose
    execution no stack ran is a trigger lost between the two."""
    from nudgeloop.dal import keys
    from nudgeloop.dal.models import EngineItem

    prefixes = (keys.claim("", "", "occurrence"), keys.claim("", "", "customer"))
    condition = EngineItem.pk.startswith(keys.campaign("")) & (
        EngineItem.sk.startswith(prefixes[0]) | EngineItem.sk.startswith(prefixes[1])
    )
    claims = [(item.pk, str(item.status)) for item in EngineItem.scan(filter_condition=condition)]
    return len(claims), sorted(f"{pk}: {name}" for pk, name in claims if name not in executions)


def _throttled(injected: Counter[str]) -> bool:
    return any(":throttle" in rule or ":fail-entries" in rule for rule, n in injected.items() if n)


def _left_after_redrive(stack: Any, redriven: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """(dead letters left after the redrive, those that are events EventBridge could not
    deliver: the redrive leaves them, as there is no function to invoke again)."""
    left = sum(stack.dlq_depths().values())
    undelivered = sum(1 for r in redriven.values() for d in r.get("details", []) if "an undelivered event" in d)
    return left, undelivered


def _dead_letters(stack: Any, injected: Counter[str]) -> tuple[int, list[str]]:
    """(dead letters left, those no injected fault explains): a letter names its function (a
    queue's consumer, or the function of Lambda's on-failure record); a fault of that function,
    or throttling of a service (which any function's retries can run out on), explains it."""
    from nudgeloop.adapters.aws import client
    from nudgeloop.permissions import function_name

    sqs = client("sqs")
    faulted = {rule.split(":", 1)[0] for rule, n in injected.items() if n}
    throttled = _throttled(injected)
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
            if not (function in faulted or throttled):
                unexplained.append(f"{dlq}: {function or 'an undelivered event'}")
    return letters, unexplained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--throttle-rate", type=float, default=None, help="default: --rate")
    parser.add_argument("--restarts", type=int, default=1, help="times the whole stack stops and starts again")
    args = parser.parse_args()
    result = run(args.days, args.customers, args.seed, args.rate, args.throttle_rate, args.restarts)
    print(json.dumps({k: v for k, v in result.items() if k != "invariants"}, indent=2))
    for name, check in result["invariants"].items():
        details = ", ".join(f"{k} {v}" for k, v in check.items() if k != "held")
        print(f"{'held' if check['held'] else 'VIOLATED'}: {name} ({details})")
    sys.exit(0 if all(c["held"] for c in result["invariants"].values()) else 1)


if __name__ == "__main__":
    main()
