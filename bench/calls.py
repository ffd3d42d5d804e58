"""Counting what a local run does: every AWS call by caller (function or the local driver),
service, operation, table and index, and each handler's CPU time and invocations.

Used by ``bench/demo_calls.py`` and ``bench/cdnow.py --calls``; install before the stack starts.
"""

from __future__ import annotations

import collections
import time
from typing import Any


class Counts:
    """Wraps the fidelity enforcer's client hook and the Lambda host's call while installed."""

    def __init__(self) -> None:
        self.calls: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.invocations: collections.Counter[str] = collections.Counter()

    def install(self) -> Counts:
        from nudgeloop_cli.local import fidelity, lambda_host

        install = fidelity.Enforcer.install
        calls, cpu, invocations = self.calls, self.cpu, self.invocations

        def counting_install(enforcer: Any) -> None:  # counts what reaches the enforcer's hook
            install(enforcer)
            from botocore.client import BaseClient

            inner = BaseClient._make_api_call  # type: ignore[attr-defined]

            def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
                table = params.get("TableName", "") if operation in ("Query", "Scan", "PutItem", "GetItem", "UpdateItem") else ""
                index = params.get("IndexName", "") if operation == "Query" else ""
                service = client.meta.service_model.service_name
                calls[(enforcer.current or "driver", service, operation, table, index)] += 1
                return inner(client, operation, params)

            BaseClient._make_api_call = counted  # type: ignore[attr-defined]

        fidelity.Enforcer.install = counting_install  # type: ignore[method-assign,assignment]
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

        lambda_host.LambdaHost.call = timed_call  # type: ignore[method-assign,assignment]
        return self

    def report(self, top: int, per: tuple[str, int] | None = None) -> str:
        """The calls, most frequent first (with ``per`` = (unit, n), also per unit), then the handlers."""
        by_driver = sum(n for k, n in self.calls.items() if k[0] == "driver")
        lines = [f"AWS calls: {sum(self.calls.values())} ({by_driver} by the local driver)"]
        for key, n in self.calls.most_common(top):
            rate = f"  {n / per[1]:6.2f} per {per[0]}" if per else ""
            lines.append(f"{n:6d}{rate}  {' '.join(k for k in key if k)}")
        lines.append("handler CPU (s), invocations:")
        lines += [
            f"{seconds:6.2f}  {self.invocations[name]:5d}  {name}"
            for name, seconds in sorted(self.cpu.items(), key=lambda kv: -kv[1])
        ]
        return "\n".join(lines)
