from datetime import UTC, datetime
from decimal import Decimal

from nudgeloop.domain.aggregates import OrderFact, aggregate
from nudgeloop.domain.consent import allows, apply_statement


def fact(order_id: str, day: int, total: str = "10", refunded: bool = False) -> OrderFact:
    return OrderFact(order_id, datetime(2026, 1, day, tzinfo=UTC), Decimal(total), "EUR", refunded)


def test_aggregates_ignore_refunds_and_arrival_order() -> None:
    agg = aggregate([fact("b", 20, "30"), fact("a", 10, "10"), fact("c", 25, "99", refunded=True)])
    assert agg.orders == 2
    assert agg.revenue == Decimal("40")
    assert agg.first_order_at == datetime(2026, 1, 10, tzinfo=UTC)
    assert agg.last_order_at == datetime(2026, 1, 20, tzinfo=UTC)
    assert agg.avg_days_between_orders == 10.0


def test_no_orders() -> None:
    agg = aggregate([fact("a", 1, refunded=True)])
    assert (agg.orders, agg.first_order_at, agg.avg_days_between_orders) == (0, None, None)


def test_latest_consent_statement_wins_regardless_of_arrival() -> None:
    consents: dict = {}
    assert apply_statement(consents, "newsletter", "opt_out", "2026-01-05T00:00:00.000Z", "api")
    assert not apply_statement(consents, "newsletter", "opt_in", "2026-01-01T00:00:00.000Z", "api")
    assert consents["newsletter"]["status"] == "opt_out"
    assert apply_statement(consents, "newsletter", "opt_in", "2026-01-06T00:00:00.000Z", "api")
    assert allows(consents, "newsletter")


def test_marketing_needs_opt_in_service_only_no_opt_out() -> None:
    assert not allows({}, "newsletter")
    assert not allows({"newsletter": {"status": "pending"}}, "newsletter")
    assert allows({}, "service")
    assert not allows({"service": {"status": "opt_out"}}, "service")
