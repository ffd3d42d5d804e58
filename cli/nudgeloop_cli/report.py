"""``nudgeloop report``: one self-contained HTML page about the loop (no scripts, no fonts, no
images from anywhere: inline SVG and CSS only), from the stack's analytics endpoints.

Pictures: the staircase (customers per step as stairs, migrations of the period as arrows
whose width follows their count), the staircase over time (one line per step), each campaign's
funnel, the uplift of each campaign against its holdout group with its 95 % interval, and the
deliverability figures, and each saved audience's members over the current audience snapshot.
"""

from __future__ import annotations

import html
from typing import Any

UP = ("prospect", "new", "active", "vip")  # the stairs up
DOWN = ("at_risk", "inactive")  # and down
COLORS = {
    "prospect": "#94a3b8",
    "new": "#38bdf8",
    "active": "#2563eb",
    "vip": "#7c3aed",
    "at_risk": "#f59e0b",
    "inactive": "#dc2626",
}
FUNNEL = ("sent", "delivered", "opened", "clicked", "converted")
FUNNEL_COLOR = "#0f766e"
NONE = "\u2013"  # an en dash: no figure


def _e(value: Any) -> str:
    return html.escape(str(value))


def _steps(report: dict[str, Any]) -> list[str]:
    known = [*UP, *DOWN]
    extra = sorted({s for d in report["staircase"]["days"] for s in (d.get("counts") or {})} - set(known))
    return known + extra


def staircase_svg(counts: dict[str, int], flows: dict[str, int]) -> str:
    """Steps as stairs: up from prospect to vip, down to at risk and inactive; a box per step
    (height by its customers) and an arrow per migration (width by its count)."""
    width, base = 760, 300
    names = [*UP, *DOWN, *sorted(set(counts) - set(UP) - set(DOWN))]
    top = max([1, *counts.values()])
    x_of, y_of, parts = {}, {}, []
    for i, name in enumerate(names):
        level = i if name in UP else (len(UP) - 1 - (DOWN.index(name) + 1) if name in DOWN else 0)
        x = 20 + i * 120
        y = base - 40 * level
        h = 16 + int(60 * counts.get(name, 0) / top)
        x_of[name], y_of[name] = x + 45, y - h
        color = COLORS.get(name, "#64748b")
        parts.append(
            f'<rect class="step" data-step="{_e(name)}" x="{x}" y="{y - h}" width="90" height="{h}" fill="{color}" rx="4"/>'
            f'<text x="{x + 45}" y="{y - h - 6}" text-anchor="middle" font-size="14" font-weight="bold">'
            f"{counts.get(name, 0)}</text>"
            f'<text x="{x + 45}" y="{y + 16}" text-anchor="middle" font-size="12">{_e(name.replace("_", " "))}</text>'
        )
    most = max([1, *flows.values()])
    for key, n in sorted(flows.items()):
        source, _, target = key.partition(">")
        if source not in x_of or target not in x_of or not n:
            continue
        x1, x2 = x_of[source], x_of[target]
        lift = 60 + 10 * abs(names.index(target) - names.index(source))
        y1, y2 = y_of[source], y_of[target]
        mid_x, mid_y = (x1 + x2) / 2, min(y1, y2) - lift
        apex = 0.25 * y1 + 0.5 * mid_y + 0.25 * y2  # the curve's highest point (t = 0.5)
        stroke = 1.5 + 5 * n / most
        parts.append(
            f'<path class="flow" data-flow="{_e(key)}" d="M{x1},{y1} Q{mid_x},{mid_y} {x2 - 6},{y2}" fill="none" '
            f'stroke="#334155" stroke-opacity="0.6" stroke-width="{stroke:.1f}" marker-end="url(#arrow)"/>'
            f'<text x="{mid_x}" y="{apex - 5:.1f}" text-anchor="middle" font-size="12" font-weight="bold" fill="#334155">'
            f"{n}</text>"
        )
    defs = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" '
        'markerWidth="12" markerHeight="12" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#334155"/></marker></defs>'
    )
    return (
        f'<svg id="staircase" width="{width}" height="{base + 30}" viewBox="0 0 {width} {base + 30}" role="img" '
        f'aria-label="customers per step and migrations">{defs}{"".join(parts)}</svg>'
    )


def over_time_svg(days: list[dict[str, Any]], steps: list[str]) -> str:
    """Customers per step at the end of each day: one line per step."""
    width, height, pad = 760, 260, 40
    points = [d for d in days if d.get("counts") is not None]
    if not points:
        return '<p class="empty">No daily snapshots in this period yet (the daily run writes one per day).</p>'
    top = max([1, *(v for d in points for v in d["counts"].values())])
    span = max(1, len(points) - 1)
    lines = []
    for step in steps:
        coords = [
            f"{pad + (width - 2 * pad) * i / span:.1f},{height - pad - (height - 2 * pad) * d['counts'].get(step, 0) / top:.1f}"
            for i, d in enumerate(points)
        ]
        if any(d["counts"].get(step, 0) for d in points):
            lines.append(
                f'<polyline class="series" data-step="{_e(step)}" points="{" ".join(coords)}" fill="none" '
                f'stroke="{COLORS.get(step, "#64748b")}" stroke-width="2.5"/>'
            )
    legend = "".join(
        f'<rect x="{pad + i * 110}" y="6" width="12" height="12" fill="{COLORS.get(s, "#64748b")}"/>'
        f'<text x="{pad + i * 110 + 16}" y="17" font-size="12">{_e(s.replace("_", " "))}</text>'
        for i, s in enumerate(steps)
    )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#94a3b8"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#94a3b8"/>'
        f'<text x="{pad}" y="{height - 12}" font-size="11">{_e(points[0]["day"])}</text>'
        f'<text x="{width - pad}" y="{height - 12}" font-size="11" text-anchor="end">{_e(points[-1]["day"])}</text>'
        f'<text x="{pad - 6}" y="{pad + 4}" font-size="11" text-anchor="end">{top}</text>'
    )
    return (
        f'<svg id="over-time" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="customers per step over time">{legend}{axis}{"".join(lines)}</svg>'
    )


def funnel_svg(campaign_id: str, totals: dict[str, Any]) -> str:
    width, row = 520, 24
    top = max([1, *(int(totals.get(k, 0)) for k in FUNNEL)])
    bars = []
    for i, kind in enumerate(FUNNEL):
        value = int(totals.get(kind, 0))
        w = int(300 * value / top)
        y = 4 + i * row
        bars.append(
            f'<text x="90" y="{y + 15}" text-anchor="end" font-size="12">{kind}</text>'
            f'<rect class="bar" x="100" y="{y}" width="{max(w, 1)}" height="{row - 6}" fill="{FUNNEL_COLOR}"/>'
            f'<text x="{106 + w}" y="{y + 15}" font-size="12">{value}</text>'
        )
    return (
        f'<svg class="funnel" data-campaign="{_e(campaign_id)}" width="{width}" height="{4 + len(FUNNEL) * row}" '
        f'role="img" aria-label="funnel of {_e(campaign_id)}">{"".join(bars)}</svg>'
    )


def uplift_svg(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Each campaign's uplift in percentage points with its 95 % interval (a forest plot)."""
    shown = [(cid, u) for cid, u in rows if u.get("ci95_pp")]
    if not shown:
        return '<p class="empty">No campaign has a compared holdout group yet.</p>'
    width, row, left = 620, 26, 160
    bound = max(1.0, *(abs(float(v)) for _, u in shown for v in u["ci95_pp"]))

    def x(value: float) -> float:
        return left + (width - left - 20) * (value + bound) / (2 * bound)

    parts = [f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{len(shown) * row}" stroke="#94a3b8" stroke-dasharray="4"/>']
    for i, (cid, u) in enumerate(shown):
        y = i * row + row / 2
        lo, hi = u["ci95_pp"]
        parts.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">{_e(cid)}</text>'
            f'<line class="ci" x1="{x(lo):.1f}" y1="{y}" x2="{x(hi):.1f}" y2="{y}" stroke="#1e293b" stroke-width="2"/>'
            f'<circle cx="{x(u["uplift_pp"]):.1f}" cy="{y}" r="5" fill="{"#16a34a" if u["significant"] else "#64748b"}"/>'
        )
    return (
        f'<svg id="uplift" width="{width}" height="{len(shown) * row + 4}" role="img" aria-label="uplift">{"".join(parts)}</svg>'
    )


AUDIENCE_COLOR = "#9333ea"


def audiences_svg(audiences: list[dict[str, Any]]) -> str:
    """A bar per saved audience: its members in the current snapshot."""
    counted = [a for a in audiences if a.get("count") is not None]
    if not counted:
        return '<p class="empty">No audience has been evaluated over a snapshot yet.</p>'
    width, row, left = 620, 24, 200
    top = max([1, *(int(a["count"]) for a in counted)])
    bars = []
    for i, a in enumerate(counted):
        w = int((width - left - 60) * int(a["count"]) / top)
        y = 4 + i * row
        bars.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_e(a["id"])}</text>'
            f'<rect class="audience" data-audience="{_e(a["id"])}" x="{left}" y="{y}" width="{max(w, 1)}" height="{row - 6}" '
            f'fill="{AUDIENCE_COLOR}"/><text x="{left + w + 6}" y="{y + 15}" font-size="12">{int(a["count"])}</text>'
        )
    return (
        f'<svg id="audiences" width="{width}" height="{4 + len(counted) * row}" role="img" aria-label="members per audience">'
        f"{''.join(bars)}</svg>"
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"


def _pct(value: Any) -> str:
    return NONE if value is None else f"{100 * float(value):.1f} %"


def render(report: dict[str, Any]) -> str:
    """The page; ``report`` holds ``staircase`` (the staircase endpoint's answer), ``campaigns``
    (id -> the campaign endpoint's answer), ``deliverability``, ``audiences`` (each saved one with
    its count, ``gather``) and ``generated_at``."""
    stair = report["staircase"]
    period_flows: dict[str, int] = {}
    for day in stair["days"]:
        for key, n in day["flows"].items():
            period_flows[key] = period_flows.get(key, 0) + n
    campaigns = report["campaigns"]
    funnels = "".join(
        f'<div class="card"><h3>{_e(cid)}</h3>{funnel_svg(cid, c["totals"])}'
        f"<p>entered {c['entries']['entered']}, holdout {c['entries']['holdout']}, revenue "
        f"{_e(', '.join(f'{v} {k}' for k, v in c['totals']['revenue'].items()) or '0')}</p></div>"
        for cid, c in sorted(campaigns.items())
        if c["totals"]["sent"] or c["entries"]["entered"]
    )
    uplift_rows = [
        [
            cid,
            c["uplift"]["treated"],
            _pct(c["uplift"]["treated_rate"]),
            c["uplift"]["control"],
            _pct(c["uplift"]["control_rate"]),
            NONE if c["uplift"]["uplift_pp"] is None else f"{c['uplift']['uplift_pp']:+.2f} pp",
            NONE if not c["uplift"]["ci95_pp"] else f"{c['uplift']['ci95_pp'][0]:+.2f} … {c['uplift']['ci95_pp'][1]:+.2f}",
        ]
        for cid, c in sorted(campaigns.items())
        if c["uplift"]["treated"] or c["uplift"]["control"]
    ]
    totals = [c["totals"] for c in campaigns.values()]
    sent = sum(t["sent"] for t in totals)
    delivered = sum(t["delivered"] for t in totals)
    rep = report.get("deliverability") or {}
    deliver_rows = [
        ["mails sent (all campaigns)", sent],
        ["delivered", f"{delivered} ({_pct(delivered / sent if sent else None)})"],
        ["bounced", f"{sum(t['bounced'] for t in totals)} ({_pct(sum(t['bounced'] for t in totals) / sent if sent else None)})"],
        [
            "complaints",
            f"{sum(t['complained'] for t in totals)} ({_pct(sum(t['complained'] for t in totals) / sent if sent else None)})",
        ],
        ["unsubscribed", sum(t["unsubscribed"] for t in totals)],
    ]
    if rep:
        window = rep.get("window", {})
        deliver_rows += [
            [f"last {rep.get('window_hours', 24)} h: bounce rate", _pct(window.get("bounce_rate"))],
            [f"last {rep.get('window_hours', 24)} h: complaint rate", _pct(window.get("complaint_rate"))],
            ["marketing sending", "PAUSED: " + str(rep["paused"].get("reason")) if rep.get("paused") else "running"],
        ]
    audiences = report.get("audiences") or []
    audience_rows = [
        [
            a["id"],
            a.get("name") or NONE,
            NONE if a.get("count") is None else a["count"],
            a.get("evaluated_at") or a.get("status") or NONE,
            a.get("state_as_of") or NONE,
            ", ".join(a.get("publications") or []) or NONE,
        ]
        for a in audiences
    ]
    steps = _steps(report)
    css = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#0f172a;max-width:1100px}"
        "h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #e2e8f0}"
        "table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 12px;border-bottom:1px solid #e2e8f0;text-align:left}"
        ".cards{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px}"
        "h3{margin:4px 0;font-size:15px}.empty{color:#64748b}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Nudgeloop report</title>"
        f"<style>{css}</style></head><body>"
        f"<h1>Nudgeloop report</h1><p>{_e(stair['from'])} to {_e(stair['to'])}; generated {_e(report['generated_at'])}</p>"
        "<h2>The staircase now, and who moved in the period</h2>"
        + staircase_svg(stair["now"], period_flows)
        + _table(["migration", "customers"], [[k.replace(">", " → "), v] for k, v in sorted(period_flows.items())])
        + "<h2>The staircase over time</h2>"
        + over_time_svg(stair["days"], steps)
        + "<h2>Campaign funnels</h2>"
        + (f'<div class="cards">{funnels}</div>' if funnels else '<p class="empty">No campaign has sent anything yet.</p>')
        + "<h2>Uplift against holdout groups</h2>"
        + uplift_svg(sorted((cid, c["uplift"]) for cid, c in campaigns.items()))
        + _table(["campaign", "treated", "ordered", "holdout", "ordered", "uplift", "95 % interval"], uplift_rows)
        + "<h2>Deliverability</h2>"
        + _table(["figure", "value"], deliver_rows)
        + "<h2>Audiences</h2>"
        + audiences_svg(audiences)
        + _table(["audience", "name", "members", "evaluated", "state as of", "publications"], audience_rows)
        + "".join(
            f"<h2>{_e(title)}</h2>" + _table(["what", "value"], [[k, v] for k, v in rows.items()])
            for title, rows in (report.get("tables") or {}).items()
        )
        + "</body></html>"
    )


def gather(
    client: Any,
    *,
    first: str | None = None,
    last: str | None = None,
    campaigns: list[str] | None = None,
    wait_s: float = 60.0,
) -> dict[str, Any]:
    """What the page shows, through the stack's HTTP API (local or deployed): every campaign,
    or those named in ``campaigns``."""
    from nudgeloop import clock

    def get(path: str) -> Any:
        status, body = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        return body

    query = "&".join(f"{k}={v}" for k, v in (("from", first), ("to", last)) if v)
    ids = campaigns or [row["campaign_id"] for row in get("/v1/analytics/campaigns")["campaigns"]]
    return {
        "generated_at": clock.iso(clock.now()),
        "staircase": get("/v1/analytics/staircase" + (f"?{query}" if query else "")),
        "campaigns": {cid: get(f"/v1/analytics/campaigns/{cid}") for cid in ids},
        "deliverability": get("/v1/analytics/deliverability"),
        "audiences": [_audience(client, get, row["id"], wait_s) for row in get("/v1/audiences")["audiences"]],
    }


def _audience(client: Any, get: Any, audience_id: str, wait_s: float) -> dict[str, Any]:
    """A saved audience, and its count over the current snapshot (evaluated by Athena; waited
    for up to ``wait_s``, else reported as it stands)."""
    import time

    saved = get(f"/v1/audiences/{audience_id}")
    found: dict[str, Any] = {
        "id": audience_id,
        "name": saved.get("name"),
        "publications": [p["id"] for p in saved.get("definition", {}).get("publish", [])],
    }
    deadline = time.monotonic() + wait_s
    while True:
        status, body = client.request("GET", f"/v1/audiences/{audience_id}/members?limit=1")
        if status == 202 and time.monotonic() < deadline:
            time.sleep(2)
            continue
        break
    if status == 200:
        found.update(count=body["count"], evaluated_at=body["evaluated_at"], state_as_of=body["state_as_of"])
    else:
        found["status"] = (body or {}).get("status") or (body or {}).get("reason") or f"HTTP {status}"
    return found


def write(report: dict[str, Any], out: Any) -> Any:
    """Write ``report.html`` (and the figures as ``report-data.json``) into ``out``."""
    import json
    from pathlib import Path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report-data.json").write_text(json.dumps(report, indent=2, default=str))
    page = folder / "report.html"
    page.write_text(render(report))
    return page
