"""bench/units.py (the cost model's measured units) measured again, briefly, on the local stack."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_measurement_agrees_with_the_committed_units_where_they_do_not_depend_on_the_workload() -> None:
    """bench/units.py measured again, briefly: the per-unit figures that any workload shares."""
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("units_bench", ROOT / "bench" / "units.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    fresh = bench.measure(customers=8, days=3, seed=7)
    from nudgeloop_cli.costs.model import load

    committed = load("units.json")
    assert set(fresh["functions"]) <= set(committed["functions"]) | set(committed["not_modelled"])
    for fn, f in fresh["functions"].items():
        assert set(f) == set(committed["functions"][fn]), fn
    api = fresh["functions"]["ingest_api"]
    assert api["calls"]["dynamodb.PutItem"] == committed["functions"]["ingest_api"]["calls"]["dynamodb.PutItem"] == 1.0
    assert fresh["functions"]["send"]["calls"]["sesv2.SendEmail"] == 1.0
    from nudgeloop.resources import DEFAULT_SWEEP_SCHEDULE, catalog

    swept = {f.key for f in catalog("nudgeloop").functions if f.schedule == DEFAULT_SWEEP_SCHEDULE}
    assert swept >= {"audience_snapshot", "broadcast", "journey_wake", "webhook_deliver"}
    assert set(fresh["empty_sweeps"]) == swept
    for key, sweep in fresh["empty_sweeps"].items():
        assert sweep["calls"] == committed["empty_sweeps"][key]["calls"]
        assert sweep["metrics"] == committed["empty_sweeps"][key]["metrics"] == []  # an empty sweep publishes nothing
