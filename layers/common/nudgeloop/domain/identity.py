"""Anonymous visitors: their events are kept under an anonymous id until a link names the customer.

A tracker knows a visitor before the shop does: page views and carts arrive under an
``anonymousId`` (Segment's, RudderStack's). They are stored under the customer id
``anon:<anonymous id>`` and not applied: no customer, no staircase, no journey. An
``identity.linked`` event (from an ``identify`` or ``alias`` naming both ids, or posted by the shop)
links the anonymous id to a customer once, for good; the anonymous events, those before the link
and any that arrive under the anonymous id after it, are then stored again under the customer
(same event ids: each once) and applied as the customer's.
"""

from __future__ import annotations

from nudgeloop.domain import ids

PREFIX = "anon:"
LINKED = "identity.linked"  # the event that links an anonymous id (its property) to the event's customer


def anonymous_customer(anonymous_id: str) -> str:
    """The customer id the events of an anonymous visitor are kept under (an id that is no valid
    Identifier, or too long, is hashed)."""
    if anonymous_id.startswith(PREFIX):
        anonymous_id = anonymous_id.removeprefix(PREFIX)
    return PREFIX + ids.id_or_hash(anonymous_id, "h-", room=ids.MAX_ID - len(PREFIX))


def is_anonymous(customer_id: str) -> bool:
    return customer_id.startswith(PREFIX)
