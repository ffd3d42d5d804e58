"""The raw inputs of the audience tables (``domain/audience_sources``): the event archive as it
is, and DynamoDB's exports of the customers table and the recommendations read model
(``ExportTableToPointInTime``: no read capacity used, as of one instant).

Each export goes under its own prefix (``exports/<table>/<run>/``), so its data files are the
objects under it, whatever names DynamoDB gives them."""

from __future__ import annotations

from nudgeloop.adapters import aws
from nudgeloop.layout import ARCHIVE_PREFIX

EXPORTED = {"raw_customers": "customers", "raw_recs": "recs"}  # raw table -> the stack table it is exported from
EXPORTS_PREFIX = "exports/"


def export_prefix(table_key: str, run: str) -> str:
    return f"{EXPORTS_PREFIX}{table_key}/{run}/"


def start_exports(bucket: str, table_arns: dict[str, str], run: str) -> dict[str, str]:
    """Start an export of each exported table into ``bucket``; returns raw table -> export ARN."""
    ddb = aws.client("dynamodb")
    started = {}
    for raw, table_key in EXPORTED.items():
        answer = ddb.export_table_to_point_in_time(
            TableArn=table_arns[table_key],
            S3Bucket=bucket,
            S3Prefix=export_prefix(table_key, run).rstrip("/"),
            ExportFormat="DYNAMODB_JSON",
        )
        started[raw] = answer["ExportDescription"]["ExportArn"]
    return started


def exports_status(export_arns: dict[str, str]) -> dict[str, str]:
    """Each export's status: IN_PROGRESS, COMPLETED or FAILED."""
    ddb = aws.client("dynamodb")
    return {raw: ddb.describe_export(ExportArn=arn)["ExportDescription"]["ExportStatus"] for raw, arn in export_arns.items()}


def raw_objects(bucket: str, run: str) -> dict[str, list[str]]:
    """The keys each raw table reads: every archive object, and the data files of this run's exports."""
    s3 = aws.client("s3")

    def keys(prefix: str) -> list[str]:
        found: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".gz")]
        return sorted(found)

    objects = {"raw_events": keys(ARCHIVE_PREFIX)}
    for raw, table_key in EXPORTED.items():
        objects[raw] = [k for k in keys(export_prefix(table_key, run)) if "/data/" in k]
    return objects
