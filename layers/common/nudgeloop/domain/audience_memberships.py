"""Memberships of the saved audiences campaigns read: a campaign's entry audience
(``audience: {saved: ID}``) and the trigger ``audience_entered`` (docs/audiences.md, campaigns).

A membership is an item of the recs table (``MEMBER#<audience>#<customer>``), which the audience
snapshot exports every day with the CLV values. Once a day's snapshot run is current, each
audience a campaign names is evaluated once more, and the query answers only the *changes*: the
members now that hold no membership item (``entered``) and the items of customers who are no
longer members (``left``). So a day costs one Athena query over the snapshot and a write per
change, not one per member; a 10-million-member audience with 20,000 changes a day writes 20,000
items. An audience's first evaluation is its baseline: its members are written, none "entered".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nudgeloop.domain.audience_sql import Compiled

MEMBER_PREFIX = "MEMBER#"
STATE_PREFIX = "MEMBERSHIP#"  # + audience id: its latest evaluation (run, when); absent before the first
COLUMNS = ("customer_id", "change")
ENTERED, LEFT = "entered", "left"


def member_key(audience_id: str, customer_id: str) -> str:
    return f"{MEMBER_PREFIX}{audience_id}#{customer_id}"


def state_key(audience_id: str) -> str:
    return f"{STATE_PREFIX}{audience_id}"


def changes_query(members: Compiled, audience_id: str) -> Compiled:
    """The members of ``members`` (the compiled audience) that have no membership item in the
    snapshot's export of the recs table, and the items of customers no longer among them."""
    from nudgeloop.domain.audience_sql import Compiled

    prefix = f"{MEMBER_PREFIX}{audience_id}#"  # audience ids are a-z, 0-9 and -: no LIKE wildcard
    item_key = "json_extract_string(line, '$.Item.key.S')"
    # the audience id is validated (``AUDIENCE_ID``): no quote can reach the SQL
    where = f"{item_key} LIKE '{prefix}%'"
    stored = f"SELECT SUBSTR({item_key}, {len(prefix) + 1}) AS customer_id FROM raw_recs WHERE {where}"  # noqa: S608
    sql = f"""
WITH now_members AS (SELECT m.customer_id FROM ({members.sql}) AS m), stored AS ({stored})
SELECT n.customer_id AS customer_id, '{ENTERED}' AS change FROM now_members AS n
  WHERE n.customer_id NOT IN (SELECT s.customer_id FROM stored AS s)
UNION ALL
SELECT s.customer_id AS customer_id, '{LEFT}' AS change FROM stored AS s
  WHERE s.customer_id NOT IN (SELECT n.customer_id FROM now_members AS n)
"""  # noqa: S608
    return Compiled(sql=sql.strip(), measures=())
