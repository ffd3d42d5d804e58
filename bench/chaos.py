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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))
sys.path.insert(0, str(ROOT / "bench"))  # chaos_checks, also when the suite loads this file by path


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

    import chaos_checks

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
            letters, unexplained = chaos_checks.dead_letters(stack, injected)
        # the causes fixed (no fault from here on), every dead letter is redriven, as an operator
        # does (`nudgeloop dlq redrive`); the end state is then checked against a recomputation
        stack.faults.off()
        redriven = {name: stack.redrive(name) for name in dlqs}
        stack.settle()
        with stack.aws_lock:
            checks = chaos_checks.invariants(stack, accepted, answers, stack.mailbox.accepted_ids(), injected)
            checks["every dead letter explained by a fault"] = {
                "held": not unexplained,
                "count": letters,
                "unexplained": unexplained[:5],
            }
            left, undelivered = chaos_checks.left_after_redrive(stack, redriven)
            explained = undelivered == 0 or chaos_checks.throttled(injected)  # undelivered: PutEvents failed or throttled
            checks["every dead letter redriven (but events EventBridge could not deliver)"] = {
                "held": left == undelivered and explained and not any(r.get("lost") for r in redriven.values()),
                "count": sum(r.get("redriven", 0) for r in redriven.values()),
                "left": left,
                "lost": sum(r.get("lost", 0) for r in redriven.values()),
                "undelivered_events": undelivered,
            }
            without = chaos_checks.claims_without_journey(earlier.executions | {e.name for e in stack.watch.executions()})
            checks["every trigger claimed has its journey"] = {
                "held": not without[1],
                "count": without[0],
                "without": without[1][:5],
            }
            journeys = dict(stack.journey_statuses())
            entries = dict(sorted(Counter(campaign for campaign, _name in chaos_checks.claims()).items()))
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
        "entries": entries,  # journey entries claimed per campaign, over every stack of the run
        "invariants": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--throttle-rate", type=float, default=None, help="default: --rate")
    parser.add_argument("--restarts", type=int, default=1, help="times the whole stack stops and starts again")
    parser.add_argument("--faults", default=None, help="a plan of its own in place of every kind at --rate ('': none)")
    args = parser.parse_args()
    result = run(args.days, args.customers, args.seed, args.rate, args.throttle_rate, args.restarts, args.faults)
    print(json.dumps({k: v for k, v in result.items() if k != "invariants"}, indent=2))
    for name, check in result["invariants"].items():
        details = ", ".join(f"{k} {v}" for k, v in check.items() if k != "held")
        print(f"{'held' if check['held'] else 'VIOLATED'}: {name} ({details})")
    sys.exit(0 if all(c["held"] for c in result["invariants"].values()) else 1)


if __name__ == "__main__":
    main()
