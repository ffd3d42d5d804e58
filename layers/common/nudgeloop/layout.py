"""Layout constants of the stack's data: how indexes are sharded, what the daily run reads of a
customer, and where things live in the buckets. Read by the catalog, the data layer, the
services and the grants alike."""

from __future__ import annotations

REVIEW_SHARDS = 16
TIMER_SHARDS = 4
# What the daily run needs of a due customer besides their orders (read from the event log).
REVIEW_ATTRIBUTES = (
    "segment",
    "segment_since",
    "version",
    "staircase_version",
    "timezone",
    "birthday",
    "bookings",
)
COUNT_SHARDS = 8
# The data bucket: files dropped under IMPORT_PREFIX are imported; every stored event is
# archived under ARCHIVE_PREFIX (dt=YYYY-MM-DD partitions, for Athena and other BI tools).
IMPORT_PREFIX = "imports/"
IMPORT_SUFFIXES = (".csv", ".jsonl")
ARCHIVE_PREFIX = "archive/events/"
SENT_PREFIX = "sent/"  # every mail as sent (raw MIME), by day
# how long a campaign's sent mails are listed (GET /v1/campaigns/{id}/mails), and the default of
# how long the archive keeps them (the sent_mail_days setting, specs.Retention)
SENT_MAIL_DAYS = 400
ANALYTICS_PREFIX = "analytics/"  # the daily export of campaign and staircase figures (JSON lines)
TEMPLATE_PREFIX = "templates/"  # in the templates bucket; uploads there are checked
TEMPLATE_SUFFIXES = (".html", ".txt", ".mjml")
# in the campaigns bucket: every campaign definition; an upload re-checks the templates it sends
CAMPAIGN_PREFIX = "campaigns/"
AUDIENCE_PREFIX = "audiences/"  # in the campaigns bucket (versioned): saved audience definitions, <id>.yaml
CAMPAIGN_SUFFIXES = (".yaml", ".yml")
# The data bucket, for the audience tables (docs/audiences.md): DynamoDB's exports of the state
# the audiences read, the Parquet tables Athena derives from them and the archive (one folder per
# snapshot run), and Athena's query results. Each expires (catalog.expirations): a snapshot is
# replaced daily, a result is read within minutes.
EXPORTS_PREFIX = "exports/"
AUDIENCE_TABLES_PREFIX = "audience-tables/"
QUERY_RESULTS_PREFIX = "athena-results/"
# One-off audience exports (CSV or JSON lines), downloaded by a time-limited link; kept this long.
AUDIENCE_EXPORTS_PREFIX = "audience-exports/"
AUDIENCE_EXPORT_DAYS = 7
# Publications: each day's file of an audience and a latest copy, for other tools to pick up.
PUBLICATIONS_PREFIX = "publications/"
PUBLICATION_DAYS = 30
# The audience workgroup refuses a query that would scan more (Athena: $5 per TB): 1 TB, the
# archive of about 2 billion events read whole by the daily snapshot (docs/audiences.md, cost).
AUDIENCE_SCAN_CUTOFF_BYTES = 10**12

# The recs table's CLV items: CLV#<customer> (the values of the latest fit) and the fit itself;
# read by the API and mails (dal/insights) and by the audiences (domain/audience_sources).
CLV_PREFIX = "CLV#"
CLV_MODEL = "CLV#MODEL"
