"""How fast ``nudgeloop local serve`` stops on SIGTERM, idle and busy. Prints its figures.

    .venv/bin/python bench/stop.py [--runs 3] [--no-keep]

Idle: the server has answered one request and processed it, and sits waiting. Busy: two
clients keep posting batches of 100 events (the pump is processing what they posted) when the
signal arrives. The figure is the time from the signal until the process has exited; the
answers the clients got after the signal are counted by status (202 answered, 503 refused
while stopping, the connection refused once the port is closed, or "cut": a request that got
no answer), and stderr is checked for tracebacks.

By default the stack keeps its state (``--state``, a new directory per run): it finishes what it
accepted, then saves, and the run checks that the saved events table holds every event a 202
answered. ``--no-keep`` measures a throwaway stack, which stops without finishing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _post(url: str, n: int, prefix: str) -> int:
    events = [
        {
            "event_id": f"{prefix}-{i}",
            "type": "page.viewed",
            "customer_id": f"stop-{i % 50}",
            "occurred_at": "2025-12-31T08:00:00Z",  # before the stack's clock: accepted, not refused
            "properties": {"url": f"/p/{i}"},
        }
        for i in range(n)
    ]
    req = urllib.request.Request(f"{url}/v1/events", data=json.dumps({"events": events}).encode(), method="POST")  # noqa: S310
    req.add_header("x-api-key", "local-admin-key-for-development")
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _start(port: int, state: Path | None) -> subprocess.Popen[str]:
    """A new stack that saves its state in ``state`` when it stops, or a throwaway one."""
    exe = str(Path(sys.executable).parent / "nudgeloop")
    keeping = ["--state", str(state)] if state is not None else ["--no-keep"]
    proc = subprocess.Popen(
        [exe, "local", "serve", "--port", str(port), *keeping],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NUDGELOOP_API_KEY": "local-admin-key-for-development"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), line + (proc.stderr.read() if proc.stderr else "")
    return proc


def once(busy: bool, keep: bool) -> dict[str, Any]:
    from nudgeloop_cli.local.server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = Path(tempfile.mkdtemp(prefix="nudgeloop-stop-bench-")) / "state" if keep else None
    proc = _start(port, state)
    answers: Counter[str] = Counter()
    accepted = [1]  # events a 202 answered (the warm-up's first)
    signalled = threading.Event()
    clients: list[threading.Thread] = []
    assert _post(url, 1, "warm") == 202

    def keep_posting(name: str) -> None:
        n = 0
        while True:
            n += 1
            try:
                status = str(_post(url, 100, f"{name}-{n}"))
                if status == "202":
                    accepted.append(100)
            except urllib.error.URLError as exc:  # nobody listens on the port any more
                status = "connection refused" if isinstance(exc.reason, ConnectionRefusedError) else f"cut: {exc.reason}"
            except (ConnectionError, OSError) as exc:  # a request cut off without an answer
                status = f"cut: {type(exc).__name__}"
            if signalled.is_set():
                answers[status] += 1
                if status == "connection refused":
                    return

    if busy:
        clients = [threading.Thread(target=keep_posting, args=(f"c{i}",), daemon=True) for i in range(2)]
        for client in clients:
            client.start()
        time.sleep(3)  # the pump has work by now
    else:
        time.sleep(3)  # the warm-up is processed: nothing to finish
    began = time.perf_counter()
    signalled.set()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    stopped = time.perf_counter() - began
    for client in clients:
        client.join(timeout=10)
    stderr = proc.stderr.read() if proc.stderr else ""
    result: dict[str, Any] = {
        "seconds": round(stopped, 3),
        "exit_code": proc.returncode,
        "answers_after_signal": dict(answers),
        "traceback_on_stderr": "Traceback" in stderr,
    }
    if state is not None:
        with (state / "dynamodb" / "events.jsonl").open() as saved:
            result["events_accepted"], result["events_saved"] = sum(accepted), sum(1 for _ in saved)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action=argparse.BooleanOptionalAction, default=True, help="the stack keeps its state")
    args = parser.parse_args()
    result: dict[str, Any] = {"keep": args.keep}
    for mode in ("idle", "busy"):
        runs = [once(mode == "busy", args.keep) for _ in range(args.runs)]
        result[mode] = {
            "seconds_median": statistics.median(r["seconds"] for r in runs),
            "seconds_max": max(r["seconds"] for r in runs),
            "runs": runs,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
