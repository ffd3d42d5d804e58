"""The key scheme of the engine table (and of the recommendations read model): every partition
key, sort key and index partition the data layer writes is built here and nowhere else.

The engine table holds many kinds of item side by side; each kind is told apart by the prefix of
its partition key (``SEND#``, ``CAMPAIGN#``, ``TIMER#`` ...). The ``by_due`` index holds the items
waiting for a moment (journey timers, reservations in doubt, entries awaiting their uplift
comparison), partitioned by the shard names below.
"""

from __future__ import annotations

import hashlib

from nudgeloop.layout import CLV_PREFIX, COUNT_SHARDS, REVIEW_SHARDS, TIMER_SHARDS


def shard(key: str, shards: int) -> str:
    """A stable shard (``"0"`` .. ``str(shards - 1)``) for a key: spreads hot partitions."""
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards)


# ---------------------------------------------------------------- the by_due index's partitions

IN_DOUBT_SHARD = "DOUBT"  # send reservations until they are completed
HELD_SHARD = "HELD"  # timers of journeys held by a marketing pause: woken by resume, not by time
UPLIFT_SHARD = "UPLIFT"  # journey entries until their attribution window closes
WEBHOOK_SHARD = "WEBHOOK"  # outbound webhook deliveries until they are taken or given up
ERASURE_SHARD = "ERASURE"  # erasures until the audience snapshot's pass (services/erasure)
TIMER_PARTITIONS = tuple(str(s) for s in range(TIMER_SHARDS))  # parked journey timers


def timer_partition(execution: str) -> str:
    return shard(execution, TIMER_SHARDS)


# ---------------------------------------------------------------- the customers table's by_review index

REVIEW_PARTITIONS = tuple(str(s) for s in range(REVIEW_SHARDS))


def review_partition(customer_id: str) -> str:
    return shard(customer_id, REVIEW_SHARDS)


# ---------------------------------------------------------------- customers per step

STEP_COUNT = "STEPCOUNT"  # sort key: the step
STEP_DAY = "SEGDAY"  # sort key: the day of the snapshot


def step_tally(record_id: str) -> str:
    """The partition of the tally of the stream batch that began with ``record_id``."""
    return f"STEPTALLY#{shard(record_id, COUNT_SHARDS)}"


def step_tally_partitions() -> list[str]:
    return [f"STEPTALLY#{s}" for s in range(COUNT_SHARDS)]


def step_flow(day: str) -> str:
    """Migrations between steps on ``day`` (ISO date); sort key ``from>to``."""
    return f"STEPFLOW#{day}"


def step_delta(day: str) -> str:
    """The change in customers per step on ``day`` (ISO date); sort key: the step."""
    return f"STEPDELTA#{day}"


# ---------------------------------------------------------------- runs, occasions, imports

RUN_STATE = "STATE"


def run(name: str) -> str:
    return f"RUN#{name}"


def fired(customer_id: str) -> str:
    """The date occasions fired for a customer; sort key: the occasion's key."""
    return f"FIRED#{customer_id}"


AUDIENCE_EVALUATION = "EVALUATION"  # sort key: the audience's latest evaluation
AUDIENCE_EXPORT_PREFIX = "EXPORT#"  # sort key: an export of the audience, by its id
BROADCAST_PREFIX = "BROADCAST#"  # a broadcast (dal/broadcasts): the record and its batches
BROADCAST_SK = "BROADCAST"
BATCH_PREFIX = "BATCH#"  # sort key: a batch of a broadcast's members, by number


def audience(audience_id: str) -> str:
    return f"AUDIENCE#{audience_id}"


def import_file(file_key: str) -> str:
    """Checkpoints of an import file; sort key: the object version."""
    return f"IMPORT#{file_key}"


def erasure(erasure_id: str) -> str:
    """An erasure's record (``dal/erasure``), by the digest of the customer id it erased."""
    return f"ERASURE#{erasure_id}"


def erasure_of(partition: str) -> str:
    return partition.removeprefix("ERASURE#")


# ---------------------------------------------------------------- the send ledger

MESSAGE = "MSG"
SEND_RATE = "SENDRATE"  # sort key: the second


def sends(customer_id: str) -> str:
    """The ledger of a customer's sends; sort key: the ledger key of the journey step."""
    return f"SEND#{customer_id}"


def customer_of_sends(partition: str) -> str:
    return partition.removeprefix("SEND#")


REFERRAL_SK = "REFERRAL"


def referral(code: str) -> str:
    """Who a referral code belongs to (the referrer), stored when they referred someone."""
    return f"REFERRAL#{code}"


IDENTITY_SK = "LINK"


def identity(anonymous_customer: str) -> str:
    """Which customer an anonymous visitor (``anon:<id>``) turned out to be (domain/identity.py)."""
    return f"IDENTITY#{anonymous_customer}"


def anonymous_of_identity(partition: str) -> str:
    return partition.removeprefix("IDENTITY#")


VOUCHER_SK = "VOUCHER"


def voucher(code: str) -> str:
    """A voucher's own partition (codes are unique; looked up by the shop's code)."""
    return f"VOUCHER#{code}"


def voucher_pool(pool: str) -> str:
    """A pool of codes the shop uploaded (sort key: the code). An available code is also in the
    ``by_due`` index under this partition; a claimed one leaves it."""
    return f"VPOOL#{pool}"


POOL_CLAIM_SK = "CLAIM"


def pool_claim(execution: str, step_id: str) -> str:
    """Which pool code a journey's send step took (a retried send takes the same)."""
    return f"VPCLAIM#{execution}#{step_id}"


def message(message_id: str) -> str:
    """What an SES message id was sent for (feedback finds its campaign by it)."""
    return f"MSG#{message_id}"


# ---------------------------------------------------------------- outbound webhooks


def webhook_deliveries(endpoint_id: str) -> str:
    """An endpoint's deliveries; sort key: the event's id (the ``webhook-id`` header)."""
    return f"WEBHOOK#{endpoint_id}"


def webhook_endpoint_of(partition: str) -> str:
    return partition.removeprefix("WEBHOOK#")


# ---------------------------------------------------------------- deliverability

TEMPLATE_STATUS = "STATUS"
ADDRESS = "ADDRESS"
REPUTATION = "REPUTATION"  # hourly counters of mails sent, bounced, complained (all campaigns)
CONTROL = "CONTROL"  # switches of the whole stack
PAUSE = "MARKETING_PAUSE"
RESUMED = "MARKETING_RESUMED"


def template(name: str) -> str:
    return f"TEMPLATE#{name}"


def suppressed(address: str) -> str:
    """An address on the suppression list, by hash: the list holds no addresses."""
    return "SUPPRESS#" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:40]


def reputation_bucket(hour: str, kind: str) -> str:
    return f"{hour}#{kind}"


def reputation_bucket_of(sort_key: str) -> tuple[str, str]:
    """(hour, kind) of a reputation counter's sort key."""
    hour, _, kind = sort_key.partition("#")
    return hour, kind


# ---------------------------------------------------------------- campaigns

ENTRIES = "_entries"  # pseudo step of the entry counters (step ids never start with "_")
UPLIFT = "_uplift"  # pseudo step of the holdout comparison counters
STATS_PREFIX = "STATS#"
CONVERSION = "CONVERSION"


def campaign(campaign_id: str) -> str:
    """A campaign's partition: its counters, stops, entries, claims and feedback."""
    return f"CAMPAIGN#{campaign_id}"


def campaign_of(partition: str) -> str:
    return partition.removeprefix("CAMPAIGN#")


def stats(step_id: str, kind: str) -> str:
    return f"{STATS_PREFIX}{step_id}#{kind}"


def stats_of(sort_key: str) -> tuple[str, str]:
    """(step_id, kind) of a campaign counter's sort key (step ids hold no ``#``)."""
    step_id, _, kind = sort_key.removeprefix(STATS_PREFIX).partition("#")
    return step_id, kind


def step_stop(step_id: str) -> str:
    return f"STOP#{step_id}"


def feedback(step_id: str, kind: str, message_id: str) -> str:
    return f"FEEDBACK#{step_id}#{kind}#{message_id}"


MAIL_SHARDS = 8  # a newsletter's sends spread over partitions, not one hot one


def campaign_mails(campaign_id: str, part: int) -> str:
    """One of a campaign's sent-mail index partitions; sort key ``sent_at#message_id``."""
    return f"CAMPAIGNMAIL#{campaign_id}#{part}"


def campaign_mail_part(message_id: str) -> int:
    return int(shard(message_id, MAIL_SHARDS))


def campaign_mail(sent_at: str, message_id: str) -> str:
    return f"{sent_at}#{message_id}"


def campaign_mail_of(sort_key: str) -> tuple[str, str]:
    """(sent_at, message_id) of a campaign mail's sort key."""
    sent_at, _, message_id = sort_key.partition("#")
    return sent_at, message_id


def entry(execution: str) -> str:
    return f"ENTRY#{execution}"


def execution_of_entry(sort_key: str) -> str:
    return sort_key.removeprefix("ENTRY#")


def claim(customer_id: str, execution: str, scope: str) -> str:
    """One claim per occurrence (the execution name carries it), or one per customer
    (``domain/idempotency.entry_claim`` decides which)."""
    return f"CLAIM#{execution}" if scope == "occurrence" else f"LASTENTRY#{customer_id}"


def conversion(customer_id: str, order_id: str) -> str:
    """An attributed order (order ids are the customer's: keyed by both)."""
    return f"CONVERSION#{customer_id}#{order_id}"


# ---------------------------------------------------------------- journey timers


def timer(execution: str) -> str:
    return f"TIMER#{execution}"


def execution_of_timer(partition: str) -> str:
    return partition.removeprefix("TIMER#")


def timer_token(token: str) -> str:
    """The sort key of a parked task token (tokens are long; their hash is the key)."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


# ---------------------------------------------------------------- the recommendations read model

# CLV_PREFIX and CLV_MODEL are decided in layout (the audiences read the CLV items too)


def clv(customer_id: str) -> str:
    return f"{CLV_PREFIX}{customer_id}"


def customer_of_clv(key: str) -> str:
    return key.removeprefix(CLV_PREFIX)
