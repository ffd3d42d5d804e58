"""Sending benchmarks (issue: personalized sending and deliverability). Prints its figures.

    .venv/bin/python bench/send.py renders [--mails 2000]
    .venv/bin/python bench/send.py ses [--recipients 1000]
    .venv/bin/python bench/send.py imports

renders  Personalized mails per second on one core: the shipped welcome template (MJML, HTML
         autoescaped in the sandbox, CSS inlined, text part), a full context with three
         recommendation blocks, and the MIME message with its RFC 8058 headers, as bytes.
ses      SES API calls per 1,000 recipients through the real send path (consent, suppression,
         ledger reservation, render, archive, SendEmail, completion) on the local runtime.
imports  Cold-start import time of the send handler (python -X importtime).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def renders(mails: int) -> dict[str, Any]:
    from nudgeloop.domain import mail

    files = {p.relative_to(ROOT / "templates").as_posix(): p.read_text() for p in (ROOT / "templates").rglob("*") if p.is_file()}

    def fetch(path: str) -> mail.Source | None:
        return mail.Source(files[path], "v1") if path in files else None

    cards = [{"sku": f"SKU-{i}", "name": f"Product {i}", "url": f"https://shop.example/p/{i}", "price": "9.90"} for i in range(3)]
    base = mail.sample_context("en")
    base["recommendations"] = {"also_bought": cards, "related": cards, "we_recommend": cards}
    began = time.process_time()
    size = 0
    for n in range(mails):
        context = {**base, "customer": {**base["customer"], "first_name": f"Ada{n}"}}
        out = mail.render(fetch, "welcome", context, "en", cache_key="bench")  # as a send does
        raw = mail.build_message(
            sender="Shop <news@shop.example>",
            recipient=f"c{n}@customers.example",
            subject=out.subject,
            html=out.html,
            text=out.text,
            sent_at=START,
            unsubscribe_url="https://api.example/v1/unsubscribe?token=abc",
        ).as_bytes()
        size += len(raw)
    spent = time.process_time() - began
    return {"mails": mails, "renders_per_second_one_core": round(mails / spent), "mean_message_bytes": size // mails}


def ses(recipients: int) -> dict[str, Any]:
    from nudgeloop_cli.local.runtime import LocalStack

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    stack = LocalStack(clock_mode="simulated", start=START, api_key="local-admin-key-for-development").start()
    stack.load_examples()
    calls: dict[str, int] = {}

    def count(event_name: str, **_kwargs: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        calls[op] = calls.get(op, 0) + 1

    try:
        events = []
        for i in range(recipients):
            cid = f"r{i:05d}"
            events.append(
                {
                    "event_id": f"up-{cid}",
                    "type": "customer.upserted",
                    "customer_id": cid,
                    "occurred_at": "2026-05-01T00:00:00Z",
                    "properties": {"email": f"{cid}@customers.example", "first_name": "Ada"},
                }
            )
            events.append(
                {
                    "event_id": f"c-{cid}",
                    "type": "consent.changed",
                    "customer_id": cid,
                    "occurred_at": "2026-05-01T00:00:00Z",
                    "properties": {"purpose": "newsletter", "status": "opt_in"},
                }
            )
        for k in range(0, len(events), 100):
            status, _h, body = stack.api(
                "POST",
                "/v1/events",
                headers={"x-api-key": "local-admin-key-for-development"},
                body=json.dumps({"events": events[k : k + 100]}),
            )
            assert status == 202, body
        stack.settle()
        from nudgeloop.adapters import aws

        ses_client = aws.client("sesv2")
        ses_client.meta.events.register("before-call.sesv2.*", count)
        began = time.perf_counter()
        results: dict[str, int] = {}
        for i in range(recipients):
            req = {
                "customer_id": f"r{i:05d}",
                "campaign_id": "news",
                "step_id": "june",
                "template": "welcome",
                "execution": f"x{i}",
                "consent_purpose": "newsletter",
            }
            out = stack.call("send", req)  # the deployed handler, as the journey's Send task calls it
            results[out["status"]] = results.get(out["status"], 0) + 1
        elapsed = time.perf_counter() - began
    finally:
        stack.stop()
    return {
        "recipients": recipients,
        "outcomes": results,
        "ses_calls": calls,
        "ses_calls_per_1000_recipients": round(sum(calls.values()) * 1000 / recipients),
        "emulated_seconds": round(elapsed, 1),
    }


def imports() -> dict[str, Any]:
    code = (
        "import os, sys; sys.path[:0] = ['functions/send']; "
        "os.environ.update(NL_CUSTOMERS_TABLE='c', NL_ENGINE_TABLE='e', NL_RECS_TABLE='r', NL_TEMPLATES_BUCKET='t', "
        "NL_CONFIGURATION_SET='m', NL_SENDER='s@example.com', NL_PUBLIC_BASE_URL='https://x', NL_SIGNING_SECRET_NAME='k', "
        "NL_DATA_BUCKET='d', AWS_DEFAULT_REGION='eu-west-1'); import handler"
    )
    runs = []
    for _ in range(5):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and line.rstrip().endswith("| handler"):
                runs.append(int(line.split("|")[1].strip()) / 1000)
    return {"import_ms_median": sorted(runs)[len(runs) // 2], "import_ms_runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("renders", "ses", "imports"))
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()
    result = {"renders": lambda: renders(args.mails), "ses": lambda: ses(args.recipients), "imports": imports}[args.what]()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
