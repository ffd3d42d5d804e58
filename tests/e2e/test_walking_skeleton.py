"""The six steps of the walking skeleton, over real HTTP against the local runtime."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nudgeloop_cli.client import Client
from tests.conftest import START, consent, order, upsert

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http(stack: Any, port: int) -> Iterator[Client]:
    from nudgeloop_cli.local.server import Background

    background = Background(stack, port)
    background.start()
    try:
        yield Client(background.url, "local-admin-key-for-development")
    finally:
        background.stop()


def settle(client: Client) -> None:
    assert client.request("POST", "/_local/settle", key=False)[0] == 200


def test_closed_loop_over_http(http: Client) -> None:
    # 1. events in, with counts of accepted, duplicate and rejected
    status, body = http.request(
        "POST",
        "/v1/events",
        {"events": [upsert("shop-1"), consent("shop-1"), order("shop-1", "A-1"), {"type": "order.completed"}]},
    )
    assert status == 202
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    assert body["rejected"][0]["index"] == 3 and body["rejected"][0]["field"].startswith("events[3]")
    status, body = http.request("POST", "/v1/events", {"events": [order("shop-1", "A-1")]})
    assert (status, body["accepted"], body["duplicates"]) == (202, 0, 1)
    settle(http)
    # 2 + 6. aggregates, segment and consents
    status, customer = http.request("GET", "/v1/customers/shop-1")
    assert status == 200
    assert customer["segment"] == "new"
    assert customer["aggregates"]["orders"] == 1
    assert customer["consents"]["newsletter"]["status"] == "opt_in"
    assert customer["profile"]["first_name"] == "Ada"
    # 3 + 4 + 5. the welcome journey rendered the template from S3 and SES accepted it
    status, outbox = http.request("GET", "/_local/outbox", key=False)
    assert status == 200 and len(outbox) == 1
    mail = outbox[0]
    assert {k: mail[k] for k in ("to", "campaign_id", "step_id", "customer_id")} == {
        "to": "shop-1@customers.example",
        "campaign_id": "welcome",
        "step_id": "welcome",
        "customer_id": "shop-1",
    }
    assert "Hi Ada" in mail["subject"] and "Hi Ada" in mail["html"] and "Hi Ada" in mail["text"]
    assert set(mail) >= {"from", "headers", "sent_at"}
    assert mail["headers"]["List-Unsubscribe"].startswith(f"<{http.url}/v1/unsubscribe?token=")
    # 5. feedback (delivery is automatic; an open injected) flows back to customer and campaign
    assert http.request("POST", f"/_local/outbox/{mail['message_id']}/events", {"type": "Open"}, key=False)[0] == 202
    settle(http)
    status, customer = http.request("GET", "/v1/customers/shop-1")
    assert customer["mails"][0]["status"] == "sent"
    from nudgeloop.dal import campaign_stats

    assert campaign_stats.campaign_stats("welcome")["welcome"] == {"sent": 1, "delivered": 1, "opened": 1}
    # the simulated clock runs the three-day wait
    status, now = http.request("GET", "/_local/clock", key=False)
    assert now["now"] == "2026-01-01T09:00:00.000Z"
    status, moved = http.request("POST", "/_local/clock/advance", {"days": 3}, key=False)
    assert status == 200 and moved["now"] == "2026-01-04T09:00:00.000Z"
    assert moved["staircase"] == {"new": 1}
    status, stairs = http.request("GET", "/_local/staircase", key=False)
    assert status == 200 and stairs["counts"] == {"new": 1}
    steps = [m["step_id"] for m in http.request("GET", "/_local/outbox", key=False)[1]]
    assert steps == ["welcome", "followup"]


def test_http_errors_are_json(http: Client) -> None:
    assert http.request("POST", "/_local/clock/advance", {"weeks": 1}, key=False)[0] == 400
    status, body = http.request("POST", "/v1/events", {"events": []})
    assert status == 400 and body["error"]["field"] == "events"
    status, body = Client(http.url, "bad-key").request("POST", "/v1/events", {"events": [upsert("x")]})
    assert status == 403 and body == {"message": "Forbidden"}
    assert http.request("GET", "/v2/nothing")[0] in (403, 404)


def _serve(port: int, *args: str) -> subprocess.Popen[str]:
    """``nudgeloop local serve`` in a process of its own, once it printed its ready line."""
    exe = str(Path(sys.executable).parent / "nudgeloop")
    env = {**os.environ, "NUDGELOOP_API_KEY": "secret-local-key-of-this-test"}
    proc = subprocess.Popen(
        [exe, "local", "serve", "--port", str(port), "--start", START.date().isoformat(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline and not line.startswith("ready"):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert re.fullmatch(rf"ready http://127\.0\.0\.1:{port}\n", line), proc.stderr.read() if proc.poll() is not None else line
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 0  # SIGTERM is a clean stop
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert "Traceback" not in errors
    return errors


def _advance(url: str, days: int) -> str:
    exe = str(Path(sys.executable).parent / "nudgeloop")
    out = subprocess.run([exe, "local", "advance", "--days", str(days), "--url", url], capture_output=True, text=True, check=True)
    return str(json.loads(out.stdout)["now"])


@pytest.mark.slow
def test_nudgeloop_local_serve_prints_ready_serves_and_keeps_its_state(tmp_path: Path, port: int) -> None:
    state = str(tmp_path / "state")
    proc = _serve(port, "--state", state)
    try:
        client = Client(f"http://127.0.0.1:{port}", "secret-local-key-of-this-test")
        status, body = client.request("POST", "/v1/events", {"events": [upsert("p1")]})
        assert (status, body["accepted"]) == (202, 1)
        assert (
            Client(f"http://127.0.0.1:{port}", "local-admin-key-for-development").request(
                "POST", "/v1/events", {"events": [upsert("p1")]}
            )[0]
            == 403
        )
        assert _advance(client.url, 1).startswith("2026-01-02")
    finally:
        _stop(proc)

    proc = _serve(port, "--state", state)  # started again: the customer and the clock are kept
    try:
        assert client.request("GET", "/v1/customers/p1")[0] == 200
        assert _advance(client.url, 0).startswith("2026-01-02")
    finally:
        errors = _stop(proc)
    assert f"state from {state}" in errors

    proc = _serve(port, "--state", state, "--fresh")  # --fresh: empty, the clock at --start
    try:
        assert client.request("GET", "/v1/customers/p1")[0] == 404
        assert _advance(client.url, 0).startswith("2026-01-01")
    finally:
        _stop(proc)


@pytest.mark.slow
def test_demo_drives_the_loop_and_writes_a_report(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "nudgeloop")
    proc = subprocess.run(
        [exe, "demo", "--customers", "12", "--days", "8", "--seed", "3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["problems"] == []
    assert sum(report["segments"].values()) == 12
    assert report["migrations"].get("prospect -> new", 0) >= 1
    assert report["mails"].get("welcome/welcome", 0) >= 1
    # every shipped example campaign reached someone (the demo scripts a customer for each)
    from nudgeloop.services.campaign_store import parse

    shipped = [parse(p.read_text()) for p in (Path(__file__).resolve().parents[2] / "campaigns" / "examples").glob("*.yaml")]
    enabled = [c for c in shipped if c.enabled]  # the order confirmation and shipping notice ship disabled
    examples = {c.id for c in enabled if any(step.type == "send" for step in c.steps)}  # referral-points mails nobody
    assert len(enabled) == 11 and len(examples) == 10 and len(shipped) == 13
    assert {key.split("/")[0] for key in report["mails"]} == examples
    assert report["journeys"].get("FAILED", 0) == 0
    html = (tmp_path / "report.html").read_text()
    # the analytics report (tested in a browser in test_report_browser.py), with the run's own figures
    assert 'id="staircase"' in html and 'class="funnel" data-campaign="welcome"' in html and "Demo run: journeys" in html
    assert "http://" not in html and "https://" not in html
    assert "customers per segment" in proc.stdout


@pytest.mark.slow
def test_clv_fit_on_the_running_stack_prints_parameters(http: Client, stack: Any) -> None:
    import random

    rng = random.Random(5)
    events = []
    for c in range(40):
        for n in range(rng.choice([1, 1, 2, 3, 5])):
            day = 1 + n * rng.randint(5, 40)
            events.append(
                order(
                    f"k{c}",
                    f"o{n}",
                    at=f"2025-{1 + day // 31:02d}-{1 + day % 28:02d}T10:00:00Z",
                    total=f"{rng.randint(10, 90)}.00",
                )
            )
    for start in range(0, len(events), 100):
        assert http.request("POST", "/v1/events", {"events": events[start : start + 100]})[0] == 202
    settle(http)
    exe = str(Path(sys.executable).parent / "nudgeloop")
    out = subprocess.run(
        [exe, "clv", "fit", "--until", "2025-12-31", "--unit", "weeks", "--url", http.url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    params = json.loads(out.stdout)
    assert set(params) == {"bgnbd", "gamma_gamma", "customers"}
    assert set(params["bgnbd"]) == {"r", "alpha", "a", "b"} and set(params["gamma_gamma"]) == {"p", "q", "v"}
    assert params["customers"] == 40 and all(v > 0 for v in params["bgnbd"].values())
    _status, customer = http.request("GET", "/v1/customers/k0")
    assert set(customer["clv"]) >= {"expected_purchases_90d", "p_alive", "expected_value_12m"}
    assert 0 <= customer["clv"]["p_alive"] <= 1
    bad = subprocess.run([exe, "clv", "fit", "--unit", "years", "--url", http.url], capture_output=True, text=True, check=False)
    assert bad.returncode != 0


@pytest.mark.slow
def test_push_commands_upload_templates_and_campaigns_to_the_running_stack(http: Client, stack: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nudgeloop_cli.main import app

    root = Path(__file__).resolve().parents[2]
    campaign = tmp_path / "pushed.yaml"
    campaign.write_text((root / "campaigns/examples/welcome.yaml").read_text().replace("id: welcome", "id: pushed"))
    result = CliRunner().invoke(app, ["campaigns", "push", str(campaign), "--url", http.url])
    assert result.exit_code == 0, result.output
    assert "pushed" in {row["id"] for row in stack.campaigns()}
    folder = tmp_path / "templates" / "hello"
    folder.mkdir(parents=True)
    files = (("subject.txt", "Hello"), ("body.txt", "Hi\n{{ unsubscribe_url }}"), ("body.html", "<p>Hi</p>"))
    for name, text in files:
        (folder / name).write_text(text)
    result = CliRunner().invoke(app, ["templates", "push", str(tmp_path / "templates"), "--url", http.url])
    assert result.exit_code == 0 and "uploaded 3 files" in result.output, result.output
    http.request("POST", "/_local/settle", key=False)
    assert stack.template_status("hello")["status"] == "valid"
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: Broken\n")
    assert CliRunner().invoke(app, ["campaigns", "push", str(broken), "--url", http.url]).exit_code == 1
