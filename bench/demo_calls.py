"""Where the demo's time goes: every AWS call by caller (function or the local driver), service,
operation, table and index, and each handler's CPU time. Prints its figures.

.venv/bin/python bench/demo_calls.py [--customers 40] [--days 30] [--top 30]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    from nudgeloop_cli.local import fidelity, lambda_host

    calls: collections.Counter[tuple[str, ...]] = collections.Counter()
    cpu: collections.Counter[str] = collections.Counter()
    invocations: collections.Counter[str] = collections.Counter()
    install = fidelity.Enforcer.install

    def counting_install(enforcer: Any) -> None:  # counts what reaches the enforcer's hook
        install(enforcer)
        from botocore.client import BaseClient

        inner = BaseClient._make_api_call  # type: ignore[attr-defined]

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            table = params.get("TableName", "") if operation in ("Query", "Scan") else ""
            index = params.get("IndexName", "") if operation == "Query" else ""
            calls[(enforcer.current or "driver", client.meta.service_model.service_name, operation, table, index)] += 1
            return inner(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[attr-defined]

    fidelity.Enforcer.install = counting_install  # type: ignore[method-assign]
    call = lambda_host.LambdaHost.call

    def timed_call(host: Any, key: str, event: dict[str, Any]) -> Any:
        if not getattr(host, "_bench_timed", False):  # wrap each handler once, inside the host's lock
            host._bench_timed = True
            for name, handler in list(host.handlers.items()):

                def timed(ev: Any, ctx: Any, _h: Any = handler, _k: str = name) -> Any:
                    began = time.thread_time()
                    try:
                        return _h(ev, ctx)
                    finally:
                        cpu[_k] += time.thread_time() - began
                        invocations[_k] += 1

                host.handlers[name] = timed
        return call(host, key, event)

    lambda_host.LambdaHost.call = timed_call  # type: ignore[method-assign]
    from nudgeloop_cli.demo import run_demo

    began, began_cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        run_demo(customers=args.customers, days=args.days, seed=7, out=Path(out))
    wall, total_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    print(f"\ndemo: {wall:.1f} s wall, {total_cpu:.1f} s CPU; handlers {sum(cpu.values()):.1f} s CPU")
    print(f"AWS calls: {sum(calls.values())} ({sum(n for k, n in calls.items() if k[0] == 'driver')} by the local driver)")
    for key, n in calls.most_common(args.top):
        print(f"{n:6d}  {' '.join(k for k in key if k)}")
    print("handler CPU (s), invocations:")
    for name, seconds in cpu.most_common():
        print(f"{seconds:6.2f}  {invocations[name]:5d}  {name}")


if __name__ == "__main__":
    main()
