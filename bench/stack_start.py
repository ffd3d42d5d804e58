"""What a test's stack costs before it does anything: ``LocalStack.start()`` (moto, provisioning,
handlers), ``load_examples()`` and the settling that follows (the uploads' template checks run
then), several stacks one after another in one process as the suite
makes them. Prints each run's figures; the first run also pays the process's imports.

.venv/bin/python bench/stack_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from nudgeloop_cli.local.runtime import LocalStack

    runs = []
    for _ in range(args.runs):
        began = time.perf_counter()
        stack = LocalStack(clock_mode="simulated", start=datetime(2026, 1, 1, 9, tzinfo=UTC), api_key="bench").start()
        started = time.perf_counter()
        stack.load_examples()
        loaded = time.perf_counter()
        stack.settle()
        settled = time.perf_counter()
        stack.stop()
        runs.append(
            {
                "start_s": round(started - began, 3),
                "examples_s": round(loaded - started, 3),
                "settle_s": round(settled - loaded, 3),
            }
        )
    print(json.dumps({"runs": runs}, indent=2))


if __name__ == "__main__":
    main()
