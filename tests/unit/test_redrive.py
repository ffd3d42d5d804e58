"""Which dead letters may be rebuilt from the S3 archive."""

from __future__ import annotations

from nudgeloop.resources import catalog
from nudgeloop.services.redrive import archive_bucket_for


def test_only_the_events_tables_stream_is_redriven_from_the_archive() -> None:
    cat = catalog()
    by_function = {s.function_key: s for s in cat.streams}
    assert archive_bucket_for(cat, by_function["ingest_process"], "data") == "data"
    assert archive_bucket_for(cat, by_function["ingest_archive"], "data") == "data"
    # another table's sequence numbers would match unrelated archived events
    assert archive_bucket_for(cat, by_function["segment_counts"], "data") is None
