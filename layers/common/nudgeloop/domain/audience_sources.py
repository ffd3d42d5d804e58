"""How the audience tables (``audience_schema.TABLES``) are derived from what the stack keeps in
S3, written once in SQL (DuckDB's dialect; Athena gets sqlglot's transpilation, as the audience
queries do):

- ``raw_events``: the event archive, one JSON line per stored event (``services/archive``:
  ``event_id``, ``type``, ``customer_id``, ``occurred_at``, ``received_at``, ``properties``), at
  least once (a line may repeat: de-duplicated here by customer and event id);
- ``raw_customers`` and ``raw_recs``: DynamoDB's export of the customers table and of the
  recommendations read model (``ExportTableToPointInTime``, DynamoDB JSON: one
  ``{"Item": {...}}`` line per item).

Each raw table has one column, ``line`` (VARCHAR): the line as it is. ``json_format`` (Athena's:
a JSON value as its text) is a macro in the embedded engine (``JSON_MACROS``). In AWS these are Glue
tables over the objects (a delimiter that never occurs, so each line is one value); locally
DuckDB reads the same objects. The derivations here then say what the Python read of the same
data says (``services/audience_tables``, the order rule of ``dal/event_log``):
``tests/integration/test_audience_sources.py`` holds the two to the same rows.
"""

from __future__ import annotations

import functools
from typing import Any, get_args

from nudgeloop.domain import identity
from nudgeloop.domain.events import MIGRATION, ConsentChanged
from nudgeloop.domain.ses_events import FEEDBACK_TYPES
from nudgeloop.layout import CLV_MODEL, CLV_PREFIX

RAW_TABLES = ("raw_events", "raw_customers", "raw_recs")
# what the embedded engine defines so that the SQL below means there what it means on Athena
JSON_MACROS = ("CREATE MACRO json_format(j) AS CAST(j AS VARCHAR)",)
PURPOSES = get_args(ConsentChanged.model_fields["purpose"].annotation)  # a closed set: one branch each


def _ts(text: str) -> str:
    """A stored instant (``2026-01-01T09:00:00.000Z``, always UTC) as a TIMESTAMP both engines read."""
    return f"CAST(REPLACE(REPLACE({text}, 'T', ' '), 'Z', '') AS TIMESTAMP)"


def _item(path: str) -> str:
    """A string attribute of an exported DynamoDB item."""
    return f"json_extract_string(line, '$.Item.{path}.S')"


def _list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


# The archive's lines, once each (by customer and event id), with their fields; a visitor's
# events kept under ``anon:<id>`` are no customer's (their copies are, once linked: domain/identity).
_EVENTS = f"""
SELECT customer_id, event_id, type, occurred_at, received_at, properties FROM (
  SELECT json_extract_string(line, '$.customer_id') AS customer_id, json_extract_string(line, '$.event_id') AS event_id,
    json_extract_string(line, '$.type') AS type, json_extract_string(line, '$.occurred_at') AS occurred_at,
    json_extract_string(line, '$.received_at') AS received_at, json_format(json_extract(line, '$.properties')) AS properties,
    row_number() OVER (PARTITION BY json_extract_string(line, '$.customer_id'), json_extract_string(line, '$.event_id')
      ORDER BY json_extract_string(line, '$.stream_sequence')) AS copy
  FROM raw_events) AS lines
WHERE copy = 1 AND customer_id NOT LIKE '{identity.PREFIX}%'
"""

# An order's latest statement by arrival counts (ties by event id); a refund of it, whenever it
# came, marks it refunded (dal/event_log._facts).
_ORDER_STATEMENTS = """
SELECT customer_id, order_id, occurred_at, properties, refunded FROM (
  SELECT e.customer_id, json_extract_string(e.properties, '$.order_id') AS order_id, e.occurred_at, e.properties,
    EXISTS (SELECT 1 FROM stored_events AS r WHERE r.type = 'order.refunded' AND r.customer_id = e.customer_id
      AND json_extract_string(r.properties, '$.order_id') = json_extract_string(e.properties, '$.order_id')) AS refunded,
    row_number() OVER (PARTITION BY e.customer_id, json_extract_string(e.properties, '$.order_id')
      ORDER BY e.received_at DESC, e.event_id DESC) AS latest
  FROM stored_events AS e
  WHERE e.type = 'order.completed' AND COALESCE(json_extract_string(e.properties, '$.order_id'), '') <> '') AS statements
WHERE latest = 1
"""

DERIVED: dict[str, str] = {
    "stored_events": _EVENTS,
    "order_statements": _ORDER_STATEMENTS,
    "customers": f"""
SELECT {_item("customer_id")} AS customer_id, {_item("email")} AS email, {_item("first_name")} AS first_name,
  {_item("last_name")} AS last_name, {_item("country")} AS country, {_item("locale")} AS locale,
  {_item("timezone")} AS timezone, {_item("gender")} AS gender, {_item("birthday")} AS birthday,
  json_extract_string({_item("address")}, '$.postal_code') AS postal_code,
  json_extract_string({_item("address")}, '$.city') AS city,
  {_item("address")} AS address, COALESCE({_item("attributes")}, '{{}}') AS attributes,
  COALESCE({_item("segment")}, 'prospect') AS step, {_item("segment_since")} AS step_since
FROM raw_customers
""",
    "consents": " UNION ALL ".join(
        f"""
SELECT {_item("customer_id")} AS customer_id, '{purpose}' AS purpose,
  json_extract_string({_item("consents")}, '$.{purpose}.status') AS status,
  {_ts(f"json_extract_string({_item('consents')}, '$.{purpose}.occurred_at')")} AS stated_at
FROM raw_customers WHERE json_extract({_item("consents")}, '$.{purpose}') IS NOT NULL
"""
        for purpose in PURPOSES
    ),
    "bookings": f"""
SELECT c.customer_id, json_extract_string(b.booking, '$.booking_id') AS booking_id,
  json_extract_string(b.booking, '$.service') AS service,
  {_ts("json_extract_string(b.booking, '$.starts_at')")} AS starts_at
FROM (SELECT {_item("customer_id")} AS customer_id, CAST(json_extract({_item("bookings")}, '$') AS JSON[]) AS bookings
      FROM raw_customers WHERE {_item("bookings")} IS NOT NULL) AS c
CROSS JOIN UNNEST(c.bookings) AS b(booking)
""",
    "orders": f"""
SELECT customer_id, order_id, {_ts("occurred_at")} AS occurred_at,
  CAST(FLOOR(epoch({_ts("occurred_at")})) AS BIGINT) AS occurred_s,
  COALESCE(json_extract_string(properties, '$.channel'), 'webshop') AS channel,
  COALESCE(json_extract_string(properties, '$.currency'), '') AS currency,
  CAST(COALESCE(json_extract_string(properties, '$.total'), '0') AS DOUBLE) AS total, refunded
FROM order_statements
""",
    "order_items": f"""
SELECT o.customer_id, o.order_id, {_ts("o.occurred_at")} AS occurred_at,
  COALESCE(json_extract_string(o.properties, '$.channel'), 'webshop') AS channel,
  COALESCE(json_extract_string(o.properties, '$.currency'), '') AS currency,
  json_extract_string(i.item, '$.sku') AS sku, json_extract_string(i.item, '$.category') AS category,
  CAST(COALESCE(json_extract_string(i.item, '$.quantity'), '1') AS BIGINT) AS quantity,
  CAST(COALESCE(json_extract_string(i.item, '$.price'), '0') AS DOUBLE)
    * CAST(COALESCE(json_extract_string(i.item, '$.quantity'), '1') AS BIGINT) AS amount,
  o.refunded
FROM (SELECT *, CAST(json_extract(properties, '$.items') AS JSON[]) AS items FROM order_statements
      WHERE json_extract(properties, '$.items') IS NOT NULL) AS o
CROSS JOIN UNNEST(o.items) AS i(item)
WHERE COALESCE(json_extract_string(i.item, '$.sku'), '') <> ''
""",
    "events": f"""
SELECT customer_id, event_id, type, {_ts("occurred_at")} AS occurred_at, SUBSTR(occurred_at, 1, 10) AS day, properties
FROM stored_events
""",
    "migrations": f"""
SELECT customer_id, json_extract_string(properties, '$.from') AS from_step, json_extract_string(properties, '$.to') AS to_step,
  {_ts("occurred_at")} AS occurred_at
FROM stored_events WHERE type = '{MIGRATION}'
""",
    "mails": f"""
SELECT customer_id, json_extract_string(properties, '$.message_id') AS message_id, SUBSTR(type, 7) AS kind,
  {_ts("occurred_at")} AS occurred_at
FROM stored_events
WHERE type IN ({_list(tuple(sorted(FEEDBACK_TYPES)))}) AND json_extract_string(properties, '$.message_id') IS NOT NULL
""",
    "clv": f"""
SELECT SUBSTR(json_extract_string(line, '$.Item.key.S'), {len(CLV_PREFIX) + 1}) AS customer_id,
  CAST(json_extract_string(json_extract_string(line, '$.Item.data.S'), '$.expected_value_12m') AS DOUBLE) AS expected_value_12m,
  CAST(json_extract_string(json_extract_string(line, '$.Item.data.S'), '$.p_alive') AS DOUBLE) AS p_alive,
  CAST(json_extract_string(json_extract_string(line, '$.Item.data.S'), '$.expected_purchases_90d') AS DOUBLE)
    AS expected_purchases_90d
FROM raw_recs
WHERE json_extract_string(line, '$.Item.key.S') LIKE '{CLV_PREFIX}%'
  AND json_extract_string(line, '$.Item.key.S') <> '{CLV_MODEL}'
""",
}
STEPS = ("stored_events", "order_statements")  # intermediate: not audience tables


def derivation(table: str, dialect: str = "duckdb", names: dict[str, str] | None = None) -> str:
    """The SELECT that derives ``table`` (an audience table or an intermediate step) from the ones
    before it, in ``dialect`` (``duckdb`` as written, ``athena`` transpiled), the tables it reads
    renamed by ``names`` (a snapshot run's tables: ``services/audience_snapshot.run_tables``)."""
    if dialect == "duckdb" and not names:
        return _written(table)
    from sqlglot import exp  # here, not at import: the API reads the snapshot's state without it

    tree = _parsed(table).copy()
    if names:
        tree = exp.replace_tables(tree, names, copy=False)
    return str(tree.sql(dialect=dialect))


def _written(table: str) -> str:
    return " ".join(DERIVED[table].split())


@functools.cache
def _parsed(table: str) -> Any:
    """The derivation's syntax tree, parsed once (each snapshot run renames its tables in a copy)."""
    import sqlglot

    return sqlglot.parse_one(_written(table), read="duckdb")


def order() -> tuple[str, ...]:
    """The derivations in the order they can be built (each reads only raw tables and earlier ones)."""
    return tuple(DERIVED)
