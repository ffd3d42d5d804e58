"""DynamoDB's TTL on the local stack's clock: expired items go once a simulated day, by a delete
that streams and indexes see; items not yet expired, or whose TTL attribute is not a number, stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nudgeloop.adapters.aws import client


def _put(table: str, sk: str, expires_at: dict[str, str] | None, due_shard: str | None = None) -> None:
    item: dict[str, Any] = {"pk": {"S": "ttl-test"}, "sk": {"S": sk}}
    if expires_at is not None:
        item["expires_at"] = expires_at
    if due_shard is not None:
        item["due_shard"], item["due_at"] = {"S": due_shard}, {"S": "2026-01-01T00:00:00Z"}
    client("dynamodb").put_item(TableName=table, Item=item)


def _left(table: str) -> list[str]:
    answer = client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "ttl-test"}},
        ConsistentRead=True,
    )
    return sorted(i["sk"]["S"] for i in answer["Items"])


def test_expired_items_are_deleted_once_a_day_and_only_expired_numbers(stack: Any) -> None:
    table = stack.catalog.table("engine").name
    now = int(stack.clock.now().timestamp())
    _put(table, "past", {"N": str(now + 3600)}, due_shard="ttl-shard")  # past by the daily run
    _put(table, "future", {"N": str(now + 10 * 86400)})
    _put(table, "text", {"S": str(now - 100)})  # not a number: TTL ignores it
    _put(table, "none", None)
    index = {"TableName": table, "IndexName": "by_due", "KeyConditionExpression": "due_shard = :s"}
    values = {":s": {"S": "ttl-shard"}}
    assert client("dynamodb").query(**index, ExpressionAttributeValues=values)["Count"] == 1

    stack.advance(timedelta(hours=2))
    assert _left(table) == ["future", "none", "past", "text"]  # an hour past, but the sweep has not run

    stack.advance(timedelta(days=1))
    assert _left(table) == ["future", "none", "text"]
    assert client("dynamodb").query(**index, ExpressionAttributeValues=values)["Count"] == 0  # the index saw it go

    stack.advance(timedelta(days=10))
    assert _left(table) == ["none", "text"]
