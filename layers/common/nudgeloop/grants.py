"""What each function's role may do: the one declaration of the stack's permissions
(``Grant``, in ``specs.py``). The CDK stack renders it into IAM policies (``permissions.py``),
the local runtime enforces it on every AWS call a handler makes, and
``tests/infra/test_permissions.py`` compares it with the synthesized roles."""

from __future__ import annotations

from nudgeloop.layout import (
    ANALYTICS_PREFIX,
    ARCHIVE_PREFIX,
    AUDIENCE_EXPORTS_PREFIX,
    AUDIENCE_PREFIX,
    AUDIENCE_TABLES_PREFIX,
    EXPORTS_PREFIX,
    IMPORT_PREFIX,
    PUBLICATIONS_PREFIX,
    QUERY_RESULTS_PREFIX,
    SENT_PREFIX,
)
from nudgeloop.specs import Grant


def _table(key: str, access: str = "read") -> Grant:
    return Grant("table", key, access)


def _bucket(key: str, access: str = "read", prefix: str = "") -> Grant:
    return Grant("bucket", key, access, prefix)


_READ_DATA = (_table("customers"), _table("events"))
_SENDING = (
    *_READ_DATA,
    _table("engine", "read_write"),  # ledger, reservations, counters
    _table("recs"),
    _bucket("templates"),
    _bucket("data", "put", SENT_PREFIX),
    Grant("secret", "signing", "read"),
    Grant("ses", "", "send"),
)

# An audience query (Athena, with the caller's rights): the workgroup, the catalog, the Parquet
# audience tables, and the results it writes and pages through.
_AUDIENCE_QUERIES = (
    Grant("athena", "audiences", "query"),
    Grant("glue", "audiences", "read"),
    _bucket("data", "read", AUDIENCE_TABLES_PREFIX),
    _bucket("data", "query_output", QUERY_RESULTS_PREFIX),
)

# What each function's role may do: the one declaration of the stack's permissions.
GRANTS: dict[str, tuple[Grant, ...]] = {
    "ingest_api": (
        _table("events"),
        _table("events", "put"),  # store-once: conditional PutItem only, no updates or deletes
        _table("customers"),
        _table("engine", "read_write"),  # unsubscribe and confirmation counters
        _table("recs"),
        _bucket("campaigns"),  # which campaigns exist (analytics); saved audiences
        _bucket("campaigns", "put", AUDIENCE_PREFIX),  # PUT /v1/audiences/{id}
        _bucket("data", "read", SENT_PREFIX),  # the links to a campaign's archived mails are signed by this role
        Grant("secret", "signing", "read"),
        Grant("parameter", "webhook", "read"),  # the Shopify app's secret (SSM SecureString)
        *_AUDIENCE_QUERIES,  # GET /v1/audiences/{id}/members, POST /v1/audiences/{id}/exports
        Grant("function", "audience_export", "invoke"),  # each export is written by the export function
        Grant("function", "broadcast", "invoke"),  # POST /v1/broadcasts: started, or a test send
        _bucket("data", "read", AUDIENCE_EXPORTS_PREFIX),  # the download links of exports are signed by this role
        _table("audit"),  # GET /v1/audit
        _table("audit", "put"),  # the changes made through the API, each once
        # a key's scope is read from the key (each request's, cached); /v1/keys creates, lists, revokes
        *(Grant("api_keys", "", access) for access in ("read", "create", "tag", "delete")),
        Grant("function", "erasure", "invoke"),  # DELETE /v1/customers/{id}: the erasure's passes run there
    ),
    "erasure": (
        _table("customers", "read_write"),
        _table("events", "read_write"),
        _table("engine", "read_write"),
        _table("recs", "read_write"),  # CLV, memberships
        _table("audit", "read_write"),  # the entries about the person (by_customer) go
        _bucket("campaigns"),  # which campaigns and saved audiences exist (the partitions to look in)
        *(_bucket("data", "read", prefix) for prefix in (SENT_PREFIX, ARCHIVE_PREFIX, IMPORT_PREFIX)),
        *(_bucket("data", "erase", prefix) for prefix in (SENT_PREFIX, ARCHIVE_PREFIX, IMPORT_PREFIX)),
        Grant("state_machine", "journey", "stop"),
        Grant("function", "erasure", "invoke"),  # continues a long pass (many arrival days)
    ),
    "ingest_import": (
        _bucket("data", "read", IMPORT_PREFIX),
        _bucket("data", "put", IMPORT_PREFIX),  # the import's report
        Grant("function", "ingest_import", "invoke"),  # continues a file longer than one run
        _table("events", "put"),
        _table("customers"),  # what a customer holds already (attributes, bookings) bounds what is accepted
        _table("engine", "read_write"),  # checkpoints
    ),
    "ingest_archive": (_bucket("data", "put", ARCHIVE_PREFIX),),
    "ingest_process": (
        _table("events", "read_write"),
        _table("customers", "read_write"),
        _table("engine", "read_write"),  # referral codes: whose a friend's code is
        _bucket("campaigns"),
        Grant("bus", "custom", "put_events"),
    ),
    "ingest_feedback": (
        _table("events", "read_write"),
        _table("engine", "read_write"),
        _table("customers", "read_write"),
        # the reputation circuit breaker turns marketing mail's configuration set off
        Grant("ses", "marketing", "sending_options"),
        _table("audit", "put"),  # and records that it did (the audit trail)
    ),
    "segment_counts": (_table("engine", "read_write"),),
    "segment_daily": (
        _table("customers", "read_write"),
        _table("events", "read_write"),
        _table("engine", "read_write"),
        _bucket("campaigns"),
        Grant("bus", "custom", "put_events"),
        Grant("function", "segment_daily", "invoke"),  # fans a full re-placement out to itself
    ),
    "analytics": (
        *_READ_DATA,
        _table("engine", "read_write"),  # ledger reads; conversions and counters
        _bucket("campaigns"),
        _bucket("data", "read", ARCHIVE_PREFIX),
        _bucket("data", "put", ANALYTICS_PREFIX),
    ),
    "recommend": (_table("events"), _table("recs", "read_write"), _bucket("campaigns")),
    "clv": (_table("events"), _table("recs", "read_write")),
    "trigger_start": (
        _bucket("campaigns"),
        _table("engine", "read_write"),  # entries and re-entry claims
        Grant("state_machine", "journey", "start"),
    ),
    "journey_plan": (
        _bucket("campaigns"),
        *_READ_DATA,
        _table("events", "put"),  # loyalty points granted, into the customer's history once
        _table("engine", "read_write"),  # the journey's entry, recorded once
        _table("recs"),  # the membership of a saved entry audience
    ),
    "journey_park": (_table("engine", "read_write"),),  # reads the execution's earlier timer to replace it
    "journey_wake": (_table("engine", "read_write"), Grant("state_machine", "journey", "task_response")),
    "send_confirmation": _SENDING,
    "templates_check": (
        _bucket("templates"),
        _bucket("campaigns"),  # which triggers send each template
        _table("engine", "read_write"),
        _table("audit", "put"),  # who uploaded each template and campaign version
    ),
    "send": _SENDING,
    "audience_snapshot": (
        _table("engine", "read_write"),  # the run's state
        _table("customers", "export"),
        _table("recs", "export"),
        _bucket("data", "export", EXPORTS_PREFIX),
        _bucket("data", "read", EXPORTS_PREFIX),  # where each export's data files are
        _bucket("data", "read", ARCHIVE_PREFIX),  # Athena reads the archive for it
        *_AUDIENCE_QUERIES,
        _bucket("data", "query_output", AUDIENCE_TABLES_PREFIX),  # the CTAS tables
        Grant("glue", "audiences", "write"),  # the raw tables, the CTAS tables, the current tables
        _bucket("campaigns"),  # the saved audiences (their publications), the campaigns (the audiences they read)
        Grant("function", "audience_export", "invoke"),  # each publication and membership job runs there
        # an erasure's second pass: older runs, the erased rows of exports and publications, old results
        *(
            g
            for prefix in (
                AUDIENCE_TABLES_PREFIX,
                EXPORTS_PREFIX,
                AUDIENCE_EXPORTS_PREFIX,
                PUBLICATIONS_PREFIX,
                QUERY_RESULTS_PREFIX,
            )
            for g in (_bucket("data", "read", prefix), _bucket("data", "erase", prefix))
        ),
    ),
    "audience_export": (
        _table("engine", "read_write"),  # the export's record
        *_AUDIENCE_QUERIES,  # Athena's result, read as the file is written
        _bucket("data", "upload", AUDIENCE_EXPORTS_PREFIX),
        Grant("function", "audience_export", "invoke"),  # continues while Athena's query runs
        _bucket("data", "upload", PUBLICATIONS_PREFIX),  # a publication's day file, and its latest copy
        _bucket("data", "read", PUBLICATIONS_PREFIX),  # the copy's source; the announcement's link
        Grant("bus", "custom", "put_events"),  # audience.published (outbound webhooks), AudienceEntered (triggers)
        _table("recs", "read_write"),  # the memberships of the audiences campaigns read
    ),
    "broadcast": (
        *_SENDING,  # the test send
        *_AUDIENCE_QUERIES,  # the members, selected over the snapshot
        _bucket("campaigns", "read", AUDIENCE_PREFIX),
        Grant("function", "broadcast_send", "invoke"),  # each batch
    ),
    "broadcast_send": _SENDING,
    # deliveries and their report; each endpoint's secret is derived from the signing key
    "webhook_deliver": (_table("engine", "read_write"), Grant("secret", "signing", "read")),
}
