"""A short chaos run in the suite (bench/chaos.py): three simulated days of the demo shop with
every fault kind at 10 % (throttling at 2 %: each throttled attempt waits out botocore's real
backoff) and the whole stack stopped and started again once, from its saved state, a fixed seed;
the invariants it checks must hold. (Threads make the draws' order vary between runs: the
invariants hold whatever the order.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_chaos_run_keeps_the_promises() -> None:
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    result = chaos.run(days=3, customers=12, seed=11, rate=0.1, throttle_rate=0.02)
    assert sum(result["faults_injected"].values()) > 5  # it did break things
    assert result["restarts"] == 1 and result["invariants"]["no journey lost at a restart"]["held"]
    assert {name: check["held"] for name, check in result["invariants"].items()} == dict.fromkeys(result["invariants"], True)
    assert result["invariants"]["every accepted event stored"]["count"] == result["traffic"]["events"]


def test_a_dead_letter_is_explained_only_by_a_fault_of_the_function_it_names(stack) -> None:
    import json
    from collections import Counter

    from nudgeloop.adapters.aws import client

    spec = importlib.util.spec_from_file_location("chaos", ROOT / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    record = {"requestContext": {"functionArn": f"{stack.res.function_arns['analytics']}:$LATEST"}, "requestPayload": {}}
    with stack.aws_lock:
        client("sqs").send_message(QueueUrl=stack.res.dlq_urls["nudgeloop-failures"], MessageBody=json.dumps(record))
        assert chaos._dead_letters(stack, Counter()) == (1, ["nudgeloop-failures: analytics"])
        assert chaos._dead_letters(stack, Counter({"send:raise~0.1": 3})) == (1, ["nudgeloop-failures: analytics"])
        assert chaos._dead_letters(stack, Counter({"analytics:raise@1": 1})) == (1, [])
        assert chaos._dead_letters(stack, Counter({"dynamodb:throttle~0.05": 9})) == (1, [])  # retries ran out


def test_a_customer_off_the_step_their_orders_give_is_reported(stack) -> None:
    from nudgeloop.dal import customer_store
    from tests.conftest import order, post_events, upsert

    spec = importlib.util.spec_from_file_location("chaos", ROOT / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    post_events(stack, [upsert("m1"), order("m1", "o1"), upsert("m2")])
    stack.settle()
    with stack.aws_lock:
        assert chaos._misplaced(stack) == []
        moved = customer_store.get_customer("m2")
        moved.step = "vip"  # what no order of theirs gives
        assert customer_store.save_customer(moved)
        assert chaos._misplaced(stack) == ["m2: vip, orders give prospect"]
