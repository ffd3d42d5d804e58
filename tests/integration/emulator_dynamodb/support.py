"""What the emulator's DynamoDB tests share: a table with two indexes and a stream, and the
comparison with moto as shipped (``both``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from nudgeloop_cli.local import dynamodb

TABLE = "emulator-test"


def stream_client() -> Any:
    # moto serves DynamoDB Streams only on the regional endpoint
    return boto3.client(
        "dynamodbstreams", region_name="eu-west-1", endpoint_url="https://streams.dynamodb.eu-west-1.amazonaws.com"
    )


def both(call: Callable[[], Any]) -> tuple[Any, Any]:
    """(ours, moto as shipped) for the same request on the same data."""
    ours = call()
    with dynamodb.as_shipped():
        shipped = call()
    for answer in (ours, shipped):
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
    return ours, shipped


def pages(client: Any, **request: Any) -> list[list[dict[str, Any]]]:
    out, start = [], None
    while True:
        page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        out.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return out
