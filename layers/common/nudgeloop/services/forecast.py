"""``campaigns simulate``: a campaign's forecast over the data in a stack (full scans: a
planning tool, run on demand, never on a hot path)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from nudgeloop import clock
from nudgeloop.dal import customer_store, deliverability, event_log, memberships
from nudgeloop.domain import consent
from nudgeloop.domain.aggregates import aggregate, counted
from nudgeloop.domain.campaigns import BehaviourTrigger, Campaign
from nudgeloop.domain.forecast import Subject, simulate
from nudgeloop.domain.staircase import Staircase
from nudgeloop.domain.windows import SendWindow
from nudgeloop.services import sender
from nudgeloop.services.segmenting import date_facts

PURPOSES = ("newsletter", "marketing", "service")


def subjects(campaign: Campaign, now: datetime, days: int, cap_days: int) -> list[Subject]:
    """Every customer as the forecast needs them (orders, consent, suppression, recent mail)."""
    orders = dict(event_log.orders_by_customer())
    behaviour: dict[str, list[tuple[datetime, str, frozenset[str]]]] = defaultdict(list)
    if isinstance(campaign.trigger, BehaviourTrigger):
        for event in event_log.events_of_types_since((campaign.trigger.event,), now - timedelta(days=days)):
            if not campaign.trigger.holds(event.type, event.properties):
                continue
            props = frozenset(k for k, v in (event.properties or {}).items() if v not in (None, "", [], {}))
            behaviour[event.customer_id].append((event.occurred_at, event.type, props))
    entry_audience = campaign.audience.saved if campaign.audience is not None else None
    found = []
    for customer in customer_store.all_customers():
        kept = counted(orders.get(customer.customer_id, []))
        facts = date_facts(customer, aggregate(kept))
        consents = dict(customer.consents or {})
        found.append(
            Subject(
                customer_id=customer.customer_id,
                segment=customer.step,
                order_times=tuple(o.occurred_at for o in kept),
                order_values=tuple(o.total for o in kept),
                consents_ok=frozenset(p for p in PURPOSES if consent.allows(consents, p)),
                has_email=bool(customer.email),
                suppressed=customer.email is not None and deliverability.suppression(customer.email) is not None,
                attributes=dict(customer.attributes or {}),
                timezone=customer.timezone,
                country=customer.country,
                birthday=customer.birthday,
                bookings=facts.bookings,
                marketing_sent=tuple(
                    sender.marketing_sends_since(customer.customer_id, now - timedelta(days=cap_days), campaign.priority)
                ),
                behaviour=tuple(sorted(behaviour.get(customer.customer_id, []))),
                member_of=(
                    frozenset({entry_audience})
                    if entry_audience and memberships.is_member(entry_audience, customer.customer_id)
                    else frozenset()
                ),
            )
        )
    return found


def forecast(
    campaign: Campaign,
    days: int,
    stairs: Staircase,
    *,
    default_window: SendWindow | None = None,
    frequency_cap: tuple[int, int] | None = None,
) -> dict[str, Any]:
    now = clock.now()
    cap_days = frequency_cap[1] if frequency_cap else 0
    found = subjects(campaign, now, days, cap_days)
    result = simulate(
        campaign,
        found,
        stairs,
        now,
        days,
        default_window=default_window,
        frequency_cap=frequency_cap,
    )
    return result.as_dict()
