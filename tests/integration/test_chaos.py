"""A short chaos run in the suite (bench/chaos.py): three simulated days of the demo shop with
every fault kind at 10 % (throttling at 2 %: each throttled attempt waits out botocore's real
backoff) and the whole stack stopped and started again once, from its saved state, a fixed seed;
the invariants it checks must hold. (At 20 % a task can crash on all
four of its tries: 0.2^4 per task, and threads make the draws' order vary between runs.)"""

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
