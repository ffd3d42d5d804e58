"""Where the demo's time goes: every AWS call by caller (function or the local driver), service,
operation, table and index, and each handler's CPU time. Prints its figures.

.venv/bin/python bench/demo_calls.py [--customers 40] [--days 30] [--top 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from calls import Counts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    counts = Counts().install()
    from nudgeloop_cli.demo import run_demo

    began, began_cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        run_demo(customers=args.customers, days=args.days, seed=7, out=Path(out))
    wall, total_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    print(f"\ndemo: {wall:.1f} s wall, {total_cpu:.1f} s CPU")
    print(f"handlers {sum(counts.cpu.values()):.1f} s CPU")
    print(counts.report(args.top))


if __name__ == "__main__":
    main()
