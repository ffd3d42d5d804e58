"""Customer aggregates derived from the order log (pure).

Aggregates are recomputed from the customer's orders instead of incremented, so replays,
duplicates and late-arriving old orders can never double-count or misplace first/last dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise


@dataclass(frozen=True)
class OrderLine:
    sku: str
    category: str | None
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    occurred_at: datetime
    total: Decimal
    currency: str
    refunded: bool = False
    skus: tuple[str, ...] = ()
    channel: str = "webshop"
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class Aggregates:
    orders: int
    revenue: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None
    avg_days_between_orders: float | None


def counted(orders: list[OrderFact]) -> list[OrderFact]:
    return sorted((o for o in orders if not o.refunded), key=lambda o: o.occurred_at)


def recent_skus(orders: list[OrderFact], limit: int = 20) -> list[str]:
    """Distinct SKUs of counted orders, most recently bought first."""
    seen: dict[str, None] = {}
    for order in reversed(counted(orders)):
        for sku in order.skus:
            seen.setdefault(sku, None)
    return list(seen)[:limit]


def aggregate(orders: list[OrderFact]) -> Aggregates:
    kept = counted(orders)
    if not kept:
        return Aggregates(0, Decimal("0"), None, None, None)
    gaps = [(b.occurred_at - a.occurred_at).total_seconds() / 86400 for a, b in pairwise(kept)]
    return Aggregates(
        orders=len(kept),
        revenue=sum((o.total for o in kept), Decimal("0")),
        first_order_at=kept[0].occurred_at,
        last_order_at=kept[-1].occurred_at,
        avg_days_between_orders=round(sum(gaps) / len(gaps), 2) if gaps else None,
    )
