"""The audience tables: what both engines hold (DuckDB locally, Athena in AWS) and every compiled
audience reads (``audience_sql``); built locally by ``services/audience_tables`` (docs/audiences.md)."""

from __future__ import annotations

# The audience tables and their columns (docs/audiences.md); both engines hold the same ones.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (
        ("customer_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("country", "VARCHAR"),
        ("locale", "VARCHAR"),
        ("timezone", "VARCHAR"),
        ("gender", "VARCHAR"),
        ("birthday", "VARCHAR"),  # YYYY-MM-DD or --MM-DD
        ("postal_code", "VARCHAR"),  # of the postal address
        ("city", "VARCHAR"),
        ("address", "VARCHAR"),  # JSON object: the whole postal address, for print exports
        ("attributes", "VARCHAR"),  # JSON object
        ("step", "VARCHAR"),
        ("step_since", "VARCHAR"),  # YYYY-MM-DD
    ),
    "consents": (("customer_id", "VARCHAR"), ("purpose", "VARCHAR"), ("status", "VARCHAR"), ("stated_at", "TIMESTAMP")),
    "orders": (
        ("customer_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("occurred_s", "BIGINT"),  # epoch seconds, for spans
        ("channel", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("total", "DOUBLE"),
        ("refunded", "BOOLEAN"),
    ),
    "order_items": (
        ("customer_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("channel", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("sku", "VARCHAR"),
        ("category", "VARCHAR"),
        ("quantity", "BIGINT"),
        ("amount", "DOUBLE"),  # price x quantity
        ("refunded", "BOOLEAN"),
    ),
    "events": (
        ("customer_id", "VARCHAR"),
        ("event_id", "VARCHAR"),
        ("type", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("day", "VARCHAR"),  # the UTC day, YYYY-MM-DD
        ("properties", "VARCHAR"),  # JSON object
    ),
    "migrations": (("customer_id", "VARCHAR"), ("from_step", "VARCHAR"), ("to_step", "VARCHAR"), ("occurred_at", "TIMESTAMP")),
    "mails": (("customer_id", "VARCHAR"), ("message_id", "VARCHAR"), ("kind", "VARCHAR"), ("occurred_at", "TIMESTAMP")),
    "clv": (
        ("customer_id", "VARCHAR"),
        ("expected_value_12m", "DOUBLE"),
        ("p_alive", "DOUBLE"),
        ("expected_purchases_90d", "DOUBLE"),
    ),
    "bookings": (("customer_id", "VARCHAR"), ("booking_id", "VARCHAR"), ("service", "VARCHAR"), ("starts_at", "TIMESTAMP")),
}
