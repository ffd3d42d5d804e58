"""The daily recommendation aggregation and the per-customer read at send time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from botocore.exceptions import ClientError

from nudgeloop.adapters.aws import client
from nudgeloop.dal import event_log, insights
from nudgeloop.domain import recommend
from nudgeloop.domain.customer import Customer

CATALOGUE_KEY = "catalog/products.jsonl"
CURATED_KEY = "catalog/recommended.yaml"


@dataclass
class AggregateResult:
    products: int
    written: int
    deleted: int


def _read(bucket: str, key: str) -> str | None:
    try:
        body: str = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return body


def aggregate(bucket: str, top_n: int = recommend.TOP_N) -> AggregateResult:
    """Recompute the read model from the order log, the catalogue and the curated lists."""
    catalogue = recommend.parse_catalogue((_read(bucket, CATALOGUE_KEY) or "").splitlines())
    curated_raw = yaml.safe_load(_read(bucket, CURATED_KEY) or "") or {}
    if not isinstance(curated_raw, dict):
        raise recommend.CatalogueError(f"{CURATED_KEY}: expected a mapping of step to SKUs")
    curated = {str(step): [str(s) for s in skus or []] for step, skus in curated_raw.items()}
    co = recommend.co_purchases(event_log.all_baskets(), top_n)
    written, deleted = insights.recs_replace(recommend.items(co, catalogue, curated), recommend.KINDS)
    return AggregateResult(len(catalogue), written, deleted)


def for_customer(customer: Customer, owned: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The "customers also bought", "related products" and "we recommend" blocks for a customer
    who bought ``owned`` (most recent first): one BatchGetItem."""
    found = insights.recs_get(recommend.keys_for(owned, customer.step))
    return recommend.from_items(owned, customer.step, found)
