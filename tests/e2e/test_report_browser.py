"""`nudgeloop report` renders in a real headless browser (Debian's Chromium) with its pictures,
and loads nothing from anywhere."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEY, consent, order, post_events, upsert

pytestmark = pytest.mark.slow


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("NUDGELOOP_SKIP_BROWSER") == "1":
        pytest.skip("NUDGELOOP_SKIP_BROWSER=1: no browser test")
    pytest.fail("Chromium is missing: `make browser` installs Debian's (or set CHROMIUM=/path)")


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes) into rows of RGB(A) bytes."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    data = b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            data += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and color in (2, 6)
    step = 4 if color == 6 else 3
    raw = zlib.decompress(data)
    rows, previous, stride = [], bytearray(width * step), width * step
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, step, rows


def count_color(image: tuple[int, int, list[bytes]], hex_color: str) -> int:
    width, step, rows = image
    target = bytes.fromhex(hex_color.lstrip("#"))
    return sum(1 for row in rows for x in range(width) if row[x * step : x * step + 3] == target)


def test_the_report_renders_in_headless_chromium_with_its_pictures(stack: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from nudgeloop_cli import report
    from nudgeloop_cli.local.server import Background, free_port
    from nudgeloop_cli.report import AUDIENCE_COLOR, COLORS, FUNNEL_COLOR

    browser = chromium()
    for cid in ("r1", "r2", "r3"):
        post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
    post_events(stack, [upsert("r4"), order("r4", "o1", at="2025-09-20T10:00:00Z")])
    stack.settle()
    for audience in ("newsletter-subscribers", "tea-buyers"):  # evaluated over the daily snapshot
        text = (Path(__file__).resolve().parents[2] / "audiences" / "examples" / f"{audience}.yaml").read_text()
        assert stack.api("PUT", f"/v1/audiences/{audience}", headers=KEY, body=text)[0] == 200
    stack.advance(timedelta(days=4))  # welcome follow-ups, daily snapshots
    port = free_port()
    background = Background(stack, port)
    background.start()
    try:
        from nudgeloop_cli.client import Client

        data = report.gather(Client(background.url, stack.api_key), first="2026-01-01", last="2026-01-05")
    finally:
        background.stop()
    page = report.write(data, tmp_path)
    text = page.read_text()
    # self-contained: no scripts, no external references of any kind
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)|src=|href=", text)
    assert "http://" not in text and "https://" not in text

    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,2200",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    # the browser built the pictures: stairs, flows, lines over time, funnels
    assert dom.count('class="step"') == 6
    assert 'data-flow="prospect&gt;new"' in dom and 'data-flow="prospect&gt;active"' in dom
    assert 'class="series" data-step="new"' in dom and 'class="funnel" data-campaign="welcome"' in dom
    # the audiences: r1-r3 opted in to the newsletter; nobody bought tea
    assert [(a["id"], a["count"], a["publications"]) for a in data["audiences"]] == [
        ("newsletter-subscribers", 3, ["mail-tool"]),
        ("tea-buyers", 0, []),
    ]
    assert 'class="audience" data-audience="newsletter-subscribers"' in dom

    image = pixels(shot.read_bytes())
    # the stairs are painted in their colours, big enough to see, and the welcome funnel's bars
    for step in ("prospect", "new", "active", "vip", "at_risk", "inactive"):
        assert count_color(image, COLORS[step]) > 500, step
    assert count_color(image, FUNNEL_COLOR) > 2000
    assert count_color(image, AUDIENCE_COLOR) > 2000
