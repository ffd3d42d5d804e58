"""``nudgeloop demo``: a simulated webshop driven through the closed loop over HTTP."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from nudgeloop import clock
from nudgeloop.domain.events import MIGRATION
from nudgeloop.domain.staircase import STEPS

from . import report as pages
from .client import Client
from .local.base import LOCAL_KEYS, ROOT
from .local.runtime import LocalStack
from .local.server import Background, free_port

FIRST_NAMES = [
    "Ada",
    "Ben",
    "Chloé",
    "Deniz",
    "Emil",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivo",
    "Jana",
    "Kofi",
    "Lena",
    "Mats",
    "Noor",
    "Olga",
    "Pavel",
]
TIMEZONES = ["Europe/Berlin", "Europe/Amsterdam", "Europe/London", "America/New_York"]
PRODUCTS = [
    ("SKU-TEA-01", "Green tea", "tea", "8.90"),
    ("SKU-TEA-02", "Black tea", "tea", "7.50"),
    ("SKU-MUG-01", "Stoneware mug", "kitchen", "14.00"),
    ("SKU-POT-01", "Tea pot", "kitchen", "39.00"),
    ("SKU-HON-01", "Forest honey", "food", "11.20"),
]


def _order(rng: random.Random, customer_id: str, n: int, at: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for sku, name, category, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
        items.append({"sku": sku, "name": name, "category": category, "quantity": rng.randint(1, 2), "price": price})
    total = sum(float(i["price"]) * i["quantity"] for i in items)
    return {
        "event_id": f"ord-{customer_id}-{n}",
        "type": "order.completed",
        "customer_id": customer_id,
        "occurred_at": at,
        "source": rng.choice(["webshop", "webshop", "pos"]),
        "properties": {
            "order_id": f"{customer_id}-o{n}",
            "total": f"{total:.2f}",
            "currency": "EUR",
            "items": items,
            "channel": rng.choice(["webshop", "store", "app"]),
        },
    }


def _event(kind: str, customer_id: str, at: str, event_id: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": at,
        "source": "webshop",
        "properties": props,
    }


def _opt_in(customer_id: str, at: str, purpose: str) -> dict[str, Any]:
    return _event(
        "consent.changed",
        customer_id,
        at,
        f"consent-{customer_id}-{purpose}",
        purpose=purpose,
        status="opt_in",
        proof={"form": "signup"},
    )


# Scripted roles of the first customers, so that every shipped example campaign has someone to
# reach even in a short demo; the rest of the shop behaves at random.
ROLES = ("cross_sell", "winback", "birthday", "cart", "service", "referrer", "referee")


def _signup(rng: random.Random, cid: str, role: str | None, at: str, start: Any) -> list[dict[str, Any]]:
    profile: dict[str, Any] = {
        "email": f"{cid}@customers.example",
        "first_name": rng.choice(FIRST_NAMES),
        "locale": rng.choice(["en", "de", "nl"]),
        "timezone": rng.choice(TIMEZONES),
        "country": "DE",
    }
    if role == "birthday" or rng.random() < 0.3:  # some tell us their birthday; some fall inside the period
        soon = (start + timedelta(days=2 if role == "birthday" else rng.randint(1, 40))).date()
        profile["birthday"] = f"19{rng.randint(60, 99)}-{soon.month:02d}-{soon.day:02d}"
    events = [_event("customer.upserted", cid, at, f"up-{cid}", **profile)]
    if role is not None or rng.random() < 0.85:
        events.append(_opt_in(cid, at, "newsletter"))
    if role is not None or rng.random() < 0.6:
        events.append(_opt_in(cid, at, "marketing"))
    if role == "referee":
        events.append(_event("signup", cid, at, f"signup-{cid}", form="referral", referral_code=f"REF-{cid}"))
    return events


def _history(rng: random.Random, cid: str, role: str | None, start: Any) -> list[dict[str, Any]]:
    """An existing customer's earlier orders, imported on the first day (the staircase and the
    date triggers work from them: cross-sell 14 days after the last one, win-back when they slip)."""
    if role == "cross_sell":
        ages = [120, 10]
    elif role == "winback":
        ages = [178]
    else:
        ages = sorted(rng.sample(range(5, 200), rng.randint(1, 4)), reverse=True)
    return [_order(rng, cid, n, clock.iso(start - timedelta(days=age, hours=rng.randint(0, 8)))) for n, age in enumerate(ages, 1)]


def simulate(
    client: Client, rng: random.Random, customers: int, days: int, on_day: Callable[[int, dict[str, int]], None] | None = None
) -> dict[str, int]:
    """Drive the shop day by day over HTTP; ``on_day(day, traffic so far)`` after each day."""
    ids = [f"demo-{i:05d}" for i in range(customers)]
    role = dict(zip(ids, ROLES, strict=False))
    # a third are existing customers, imported with their order history on the first day
    existing = {cid for cid in ids if role.get(cid) in ("cross_sell", "winback") or (cid not in role and rng.random() < 0.33)}
    signup = {cid: 0 if cid in existing or cid in role else rng.randrange(max(1, days * 2 // 3)) for cid in ids}
    if "referee" in role.values():
        signup[next(c for c, r in role.items() if r == "referee")] = min(2, days - 1)
    propensity = {cid: 0.0 if rng.random() < 0.2 else rng.uniform(0.02, 0.15) for cid in ids}
    orders: Counter[str] = Counter()
    seen_mails: set[str] = set()
    sent = {"events": 0, "opens": 0, "clicks": 0, "mails": 0}
    start = clock.parse_iso(client.request("GET", "/_local/clock", key=False)[1]["now"])
    for day in range(days):
        now = clock.parse_iso(client.request("GET", "/_local/clock", key=False)[1]["now"])
        batch: list[dict[str, Any]] = []
        for cid in ids:
            at = clock.iso(now - timedelta(minutes=rng.randint(0, 600))) if day else clock.iso(now)
            mine = role.get(cid)
            if signup[cid] == day:
                batch += _signup(rng, cid, mine, at, start)
                if cid in existing:
                    history = _history(rng, cid, mine, start)
                    orders[cid] = len(history)
                    batch += history
                if mine == "service" or rng.random() < 0.1:  # a booked service (a car inspection, a stay)
                    begins = now + timedelta(days=4 if mine == "service" else rng.randint(3, 20), hours=1)
                    batch.append(
                        _event(
                            "service.booked",
                            cid,
                            at,
                            f"book-{cid}",
                            booking_id=f"b-{cid}",
                            service="inspection",
                            starts_at=clock.iso(begins),
                            ends_at=clock.iso(begins + timedelta(hours=26)),
                        )
                    )
            elif signup[cid] < day:
                if (mine == "cart" and day == 1) or rng.random() < 0.03:
                    batch.append(_event("cart.abandoned", cid, at, f"cart-{cid}-{day}", cart_id=f"cart-{cid}-{day}"))
                if mine == "referrer" and day == 1 and "referee" in role.values():
                    friend = next(c for c, r in role.items() if r == "referee")
                    batch.append(
                        _event(
                            "referral.created",
                            cid,
                            at,
                            f"ref-{cid}",
                            referee_email=f"{friend}@customers.example",
                            code=f"REF-{friend}",
                        )
                    )
                if (mine == "referee" and day == signup[cid] + 1) or (
                    mine not in ("winback", "cart") and rng.random() < propensity[cid]
                ):  # the friend's first order rewards the referrer
                    orders[cid] += 1
                    batch.append(_order(rng, cid, orders[cid], at))
        for chunk in range(0, len(batch), 100):
            client.events(batch[chunk : chunk + 100])
            sent["events"] += len(batch[chunk : chunk + 100])
        client.request("POST", "/_local/settle", key=False)
        new_mails = client.request("GET", f"/_local/outbox/since/{len(seen_mails)}", key=False)[1]
        for mail in new_mails:
            if mail["message_id"] in seen_mails:
                continue
            seen_mails.add(mail["message_id"])
            if rng.random() < 0.5:
                client.request("POST", f"/_local/outbox/{mail['message_id']}/events", {"type": "Open"}, key=False)
                sent["opens"] += 1
                if rng.random() < 0.35:
                    client.request(
                        "POST",
                        f"/_local/outbox/{mail['message_id']}/events",
                        {"type": "Click", "detail": {"link": "https://shop.example/tea"}},
                        key=False,
                    )
                    sent["clicks"] += 1
        client.advance(days=1)
        sent["mails"] = len(seen_mails)
        if on_day is not None:
            on_day(day + 1, sent)
    return sent


def collect(stack: LocalStack) -> dict[str, Any]:
    from nudgeloop.dal import campaign_stats
    from nudgeloop.dal.models import CustomerModel, EventModel

    segments = Counter(c.step for c in CustomerModel.scan())
    migrations = Counter(f"{e.properties['from']} -> {e.properties['to']}" for e in EventModel.scan(EventModel.type == MIGRATION))
    outbox = stack.outbox()
    mails = Counter(f"{m['campaign_id']}/{m['step_id']}" for m in outbox)
    journeys = stack.journey_statuses()
    feedback = campaign_stats.campaign_stats("welcome")
    dlq = stack.dlq_depths()
    problems = [f"{k} DLQ holds {v} messages" for k, v in dlq.items() if v]
    problems += [f"{n} journeys {s.lower()}" for s, n in journeys.items() if s in ("FAILED", "TIMED_OUT", "ABORTED")]
    problems += [f"{f['function']} raised {f['error']}: {f['message']}" for f in stack.failures]
    if stack.enforcer is not None:  # calls its role does not allow (also those the code caught)
        problems += [f"{d['function']} may not {d['action']} on {d['resource']}" for d in stack.enforcer.denials]
    return {
        "now": clock.iso(stack.clock.now()),
        "segments": {s: segments.get(s, 0) for s in STEPS},
        "migrations": dict(sorted(migrations.items())),
        "journeys": dict(journeys),
        "mails": dict(sorted(mails.items())),
        "feedback": feedback,
        "dlq": dlq,
        "problems": problems,
    }


def run_demo(*, customers: int, days: int, seed: int, out: Path) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    port = free_port()
    stack = LocalStack(clock_mode="simulated", public_base_url=f"http://127.0.0.1:{port}").start()
    background = Background(stack, port)
    stack.load_examples()
    background.start()
    try:
        client = Client(background.url, stack.api_key)
        for path in sorted((ROOT / "audiences" / "examples").glob("*.yaml")):  # as `audiences push` saves them
            status, body = client.request("PUT", f"/v1/audiences/{path.stem}", raw=path.read_bytes())
            if status != 200:
                raise RuntimeError(f"PUT /v1/audiences/{path.stem} answered {status}: {body}")
        start = stack.clock.now()
        with Progress(
            TextColumn("[bold]simulated day"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("days", total=days, figures="")

            def on_day(day: int, traffic: dict[str, int]) -> None:
                figures = f"events {traffic['events']} · journeys {stack.journey_statuses().total()} · mails {traffic['mails']}"
                progress.update(task, completed=day, figures=figures)

            shop = Client(background.url, LOCAL_KEYS["ingest"])  # the webshop sends with an ingest key
            traffic = simulate(shop, random.Random(seed), customers, days, on_day)
        with stack.aws_lock:  # the pump thread still runs: read moto as a handler would, one at a time
            figures = collect(stack)
        report = {**figures, "traffic": traffic, "customers": customers, "days": days, "seed": seed}
        # the same page `nudgeloop report` writes, over the simulated period, plus the run's own figures
        page = pages.gather(client, first=start.date().isoformat(), last=stack.clock.now().date().isoformat())
        page["tables"] = {
            "Demo run: mails sent (campaign/step)": report["mails"],
            "Demo run: journeys": report["journeys"],
            "Demo run: traffic": traffic,
            "Demo run: dead-letter queues": report["dlq"],
        }
    finally:
        background.stop()
        stack.stop()
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    pages.write(page, out)
    grid = Table(title="Nudgeloop demo")
    grid.add_column("what")
    grid.add_column("figures")
    grid.add_row("customers per segment", ", ".join(f"{k} {v}" for k, v in report["segments"].items()))
    grid.add_row("migrations", ", ".join(f"{k}: {v}" for k, v in report["migrations"].items()) or "none")
    grid.add_row("journeys", ", ".join(f"{k.lower()} {v}" for k, v in report["journeys"].items()) or "none")
    grid.add_row("mails sent", ", ".join(f"{k}: {v}" for k, v in report["mails"].items()) or "none")
    grid.add_row("events posted", str(traffic["events"]))
    grid.add_row("opens / clicks fed back", f"{traffic['opens']} / {traffic['clicks']}")
    console.print(grid)
    console.print(f"report written to {out / 'report.html'} and {out / 'report.json'}")
    return report
