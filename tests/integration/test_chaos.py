"""A short chaos run in the suite (bench/chaos.py): three simulated days of the demo shop with
every fault kind at 10 % (throttling at 2 %: each throttled attempt waits out botocore's real
backoff) and the whole stack stopped and started again once, from its saved state, a fixed seed;
the invariants it checks must hold. (Threads make the draws' order vary between runs: the
invariants hold whatever the order.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_chaos_run_keeps_the_promises() -> None:
    result = _chaos().run(days=3, customers=12, seed=11, rate=0.1, throttle_rate=0.02)
    assert sum(result["faults_injected"].values()) > 5  # it did break things
    assert result["restarts"] == 1 and result["invariants"]["no journey lost at a restart"]["held"]
    assert {name: check["held"] for name, check in result["invariants"].items()} == dict.fromkeys(result["invariants"], True)
    assert result["invariants"]["every accepted event stored exactly once"]["count"] == result["traffic"]["events"]


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    return chaos


def _checks():
    _chaos()  # puts bench/ on the path
    import chaos_checks

    return chaos_checks


@pytest.mark.parametrize(
    ("faults", "dlq"),
    [("ingest_process:raise~1", "nudgeloop-failures"), ("trigger_start:raise~1", "nudgeloop-trigger-dlq")],
)
def test_what_ended_in_a_dead_letter_queue_is_applied_by_the_redrive_once_the_cause_is_fixed(faults: str, dlq: str) -> None:
    """Every batch of the events consumer (or every trigger) fails until the end of the run: all
    of it ends in its dead-letter queue; the chaos run then turns the faults off and redrives, and
    the end state is what the recomputation gives: every customer exists and is on their step,
    every trigger has its journey."""
    result = _chaos().run(days=2, customers=8, seed=3, rate=0.0, restarts=0, faults=faults)
    assert result["dlq_depths"].get(dlq, 0) > 0 and set(result["dlq_depths"]) == {dlq}
    assert result["redriven"][dlq]["redriven"] > 0 and result["redriven"][dlq]["lost"] == 0
    checks = result["invariants"]
    assert {name: check["held"] for name, check in checks.items()} == dict.fromkeys(checks, True)
    assert checks["every customer on the step their stored orders give"]["count"] == 8  # applied by the redrive
    assert checks["every trigger claimed has its journey"]["count"] > 0
    assert checks["every dead letter redriven (but events EventBridge could not deliver)"]["left"] == 0


def test_a_dead_letter_is_explained_only_by_a_fault_of_the_function_it_names(stack) -> None:
    import json
    from collections import Counter

    from nudgeloop.adapters.aws import client

    checks = _checks()
    record = {"requestContext": {"functionArn": f"{stack.res.function_arns['analytics']}:$LATEST"}, "requestPayload": {}}
    with stack.aws_lock:
        client("sqs").send_message(QueueUrl=stack.res.dlq_urls["nudgeloop-failures"], MessageBody=json.dumps(record))
        assert checks.dead_letters(stack, Counter()) == (1, ["nudgeloop-failures: analytics"])
        assert checks.dead_letters(stack, Counter({"send:raise~0.1": 3})) == (1, ["nudgeloop-failures: analytics"])
        assert checks.dead_letters(stack, Counter({"analytics:raise@1": 1})) == (1, [])
        assert checks.dead_letters(stack, Counter({"dynamodb:throttle~0.05": 9})) == (1, [])  # retries ran out


def test_a_customer_off_the_step_their_orders_give_is_reported(stack) -> None:
    from nudgeloop.dal import customer_store
    from tests.conftest import order, post_events, upsert

    checks = _checks()
    post_events(stack, [upsert("m1"), order("m1", "o1"), upsert("m2")])
    stack.settle()
    with stack.aws_lock:
        assert checks.misplaced(stack) == []
        moved = customer_store.get_customer("m2")
        moved.step = "vip"  # what no order of theirs gives
        assert customer_store.save_customer(moved)
        assert checks.misplaced(stack) == ["m2: vip, orders give prospect"]


def test_totals_other_than_the_orders_sent_give_and_a_claim_without_its_journey_are_reported(stack) -> None:
    from nudgeloop import clock
    from nudgeloop.dal import campaign_stats
    from nudgeloop.domain import idempotency
    from tests.conftest import order, post_events, upsert

    checks = _checks()
    sent = [upsert("t1"), order("t1", "o1", total="25.00"), order("t1", "o2", at="2026-01-01T09:00:00Z", total="5.00")]
    post_events(stack, sent)
    stack.settle()
    record = {e["event_id"]: e for e in sent}
    with stack.aws_lock:
        assert checks.aggregates_wrong(record) == []
        # the shop's record of a third order the stack never stored, and a second statement of the first
        third = order("t1", "o3", total="7.00")
        restated = {**sent[1], "event_id": "ord-t1-o1-again", "properties": {**sent[1]["properties"], "total": "30.00"}}
        [wrong] = checks.aggregates_wrong({**record, third["event_id"]: third})
        assert wrong.startswith("t1: {'orders': 2, 'revenue': 30.0") and "'orders': 3, 'revenue': 37.0" in wrong
        [wrong] = checks.aggregates_wrong({**record, restated["event_id"]: restated})
        assert "'revenue': 35.0" in wrong  # its last statement counts
        ran = {e.name for e in stack.watch.executions()}
        claims, without = checks.claims_without_journey(ran)
        assert without == [] and claims == len(ran)
        claim = idempotency.entry_claim("once", None, clock.now())
        assert campaign_stats.claim_entry("lost-one", "t1", "lost-one-t1", clock.now(), claim)
        assert checks.claims_without_journey(ran) == (claims + 1, ["CAMPAIGN#lost-one: lost-one-t1"])
        assert checks.claims_without_journey(ran | {"lost-one-t1"}) == (claims + 1, [])
