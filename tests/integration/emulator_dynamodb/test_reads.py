"""The local runtime's faster DynamoDB (cli/nudgeloop_cli/local/dynamodb.py) reads as DynamoDB
does, and exactly as moto as shipped answers: ordering, pagination, key conditions, filters,
index projections, every attribute type, stream records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nudgeloop_cli.local import dynamodb

from .support import TABLE, both, pages, stream_client


def test_a_table_query_reads_its_partition_in_sort_key_order(ddb: Any) -> None:
    ours, shipped = both(
        lambda: ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p2"}})
    )
    assert ours == shipped
    assert [i["sk"]["S"] for i in ours["Items"]] == [f"s{n:02d}" for n in range(12)]
    assert {i["pk"]["S"] for i in ours["Items"]} == {"p2"}


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [1, 5, 12])
def test_table_query_pages_conditions_and_filters_as_shipped(ddb: Any, forward: bool, limit: int) -> None:
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "FilterExpression": "n > :low",
        "ProjectionExpression": "sk, n",
        "ExpressionAttributeValues": {":p": {"S": "p4"}, ":a": {"S": "s02"}, ":b": {"S": "s10"}, ":low": {"N": "-5"}},
        "ScanIndexForward": forward,
        "Limit": limit,
    }
    ours, shipped = both(lambda: pages(ddb, **request))
    assert ours == shipped
    seen = [i["sk"]["S"] for page in ours for i in page]
    assert seen == sorted(seen, reverse=not forward)  # pagination keeps the order across pages
    assert all(set(i) == {"sk", "n"} and int(i["n"]["N"]) > -5 for page in ours for i in page)


def test_begins_with_count_and_an_unknown_partition_as_shipped(ddb: Any) -> None:
    for request in (
        {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :b)",
            "ExpressionAttributeValues": {":p": {"S": "p1"}, ":b": {"S": "s1"}},
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}, "Select": "COUNT"},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    ):
        ours, shipped = both(lambda r=request: ddb.query(TableName=TABLE, **r))  # type: ignore[misc]
        assert ours == shipped
    assert (
        ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "nobody"}})["Items"]
        == []
    )


@pytest.mark.parametrize("limit", [1, 4, 100])
def test_an_index_query_is_sparse_ordered_projected_and_paged_as_shipped(ddb: Any, limit: int) -> None:
    request = {
        "TableName": TABLE,
        "IndexName": "by-due",
        "KeyConditionExpression": "lane = :s AND due <= :d",
        "ExpressionAttributeValues": {":s": {"S": "1"}, ":d": {"S": "2026-01-03"}},
        "Limit": limit,
    }
    ours, shipped = both(lambda: pages(ddb, **request))
    assert ours == shipped
    items = [i for page in ours for i in page]
    assert items and all(i["lane"]["S"] == "1" and i["due"]["S"] <= "2026-01-03" for i in items)
    keys = [(i["due"]["S"], i["pk"]["S"], i["sk"]["S"]) for i in items]
    assert keys == sorted(keys)  # index key, then the table's keys for equal index keys
    assert all("secret" not in i and "note" in i and "n" not in i for i in items)  # INCLUDE projection
    assert len({(i["pk"]["S"], i["sk"]["S"]) for i in items}) == len(items)  # no item twice across pages


def test_a_keys_only_index_without_a_sort_key_as_shipped(ddb: Any) -> None:
    request = {
        "TableName": TABLE,
        "IndexName": "by-kind",
        "KeyConditionExpression": "kind = :k",
        "ExpressionAttributeValues": {":k": {"S": "odd"}},
    }
    ours, shipped = both(lambda: pages(ddb, **request, Limit=7))
    assert ours == shipped
    items = [i for page in ours for i in page]
    assert len(items) == 36 and all(set(i) == {"pk", "sk", "kind"} for i in items)


def test_an_index_query_sees_writes_at_once(ddb: Any) -> None:
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p0"}, "sk": {"S": "s01"}},
        UpdateExpression="SET lane = :s, due = :d",
        ExpressionAttributeValues={":s": {"S": "9"}, ":d": {"S": "2030-01-01"}},
    )
    request = {
        "TableName": TABLE,
        "IndexName": "by-due",
        "KeyConditionExpression": "lane = :s",
        "ExpressionAttributeValues": {":s": {"S": "9"}},
    }
    ours, shipped = both(lambda: ddb.query(**request))
    assert ours == shipped and [i["sk"]["S"] for i in ours["Items"]] == ["s01"]


def test_unknown_indexes_and_bad_keys_are_refused_as_shipped(ddb: Any) -> None:
    for request in (
        {"IndexName": "nope", "KeyConditionExpression": "lane = :s", "ExpressionAttributeValues": {":s": {"S": "1"}}},
        {"KeyConditionExpression": "sk = :s", "ExpressionAttributeValues": {":s": {"S": "1"}}},
    ):
        errors = []
        for context in (dynamodb.as_shipped, None):
            with pytest.raises(ClientError) as raised:
                if context:
                    with context():
                        ddb.query(TableName=TABLE, **request)
                else:
                    ddb.query(TableName=TABLE, **request)
            errors.append((raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]))
        assert errors[0] == errors[1]  # (moto says ResourceNotFound for an unknown index; DynamoDB ValidationException)
        assert errors[0][0] in ("ValidationException", "ResourceNotFoundException")


def test_number_keys_match_by_value_as_in_dynamodb(ddb: Any) -> None:
    ddb.create_table(
        TableName="numbers",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}, {"AttributeName": "at", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for at in (3, 1, 2):
        ddb.put_item(TableName="numbers", Item={"id": {"N": "7"}, "at": {"N": str(at)}})
    ours, shipped = both(
        lambda: ddb.query(TableName="numbers", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"N": "7.0"}})
    )
    assert ours == shipped and [i["at"]["N"] for i in ours["Items"]] == ["1", "2", "3"]


EVERY_TYPE = {
    "pk": {"S": "typed"},
    "sk": {"S": "all"},
    "s": {"S": "text ü \u2603"},
    "empty": {"S": ""},
    "n": {"N": "-12.500"},
    "b": {"B": b"\x00\xffbinary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"\x01"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {"deep": {"B": b"\x02"}}}, {"NULL": True}]},
    "map": {"M": {"a": {"S": "1"}, "empty": {"M": {}}, "l": {"L": [{"BOOL": False}]}, "ns": {"NS": ["3"]}}},
}


def test_every_attribute_type_is_answered_as_shipped(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE)
    key = {"pk": EVERY_TYPE["pk"], "sk": EVERY_TYPE["sk"]}
    requests: list[Callable[[], Any]] = [
        lambda: ddb.get_item(TableName=TABLE, Key=key),
        lambda: ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "typed"}}),
        lambda: ddb.batch_get_item(RequestItems={TABLE: {"Keys": [key]}}),
        lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}]),
        lambda: ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET s = s", ReturnValues="ALL_NEW"),
    ]
    for request in requests:
        ours, shipped = both(request)
        assert ours == shipped
    got = ddb.get_item(TableName=TABLE, Key=key)["Item"]
    assert got == EVERY_TYPE | {"ss": got["ss"], "ns": got["ns"], "bs": got["bs"]}  # sets are unordered
    assert sorted(got["bs"]["BS"]) == sorted(EVERY_TYPE["bs"]["BS"]) and got["b"]["B"] == b"\x00\xffbinary"


def test_stream_records_are_answered_as_shipped(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE)
    streams = stream_client()
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> list[dict[str, Any]]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return [r["dynamodb"] for r in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]]

    ours, shipped = both(records)
    assert ours == shipped and ours[-1]["NewImage"]["b"] == {"B": b"\x00\xffbinary"}


def _scan_pages(ddb: Any, **request: Any) -> list[dict[str, Any]]:
    out, start = [], None
    while True:
        page = ddb.scan(TableName=TABLE, **request, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        out.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"Limit": 7},
        {
            "FilterExpression": "begins_with(sk, :s) AND n > :n",
            "ExpressionAttributeValues": {":s": {"S": "s0"}, ":n": {"N": "3"}},
        },
        {"FilterExpression": "attribute_exists(lane)", "Limit": 4},
        {"ProjectionExpression": "pk, note", "Limit": 5},
        {"IndexName": "by-due", "Limit": 3},
        {"Segment": 1, "TotalSegments": 3},
        {"Select": "COUNT", "FilterExpression": "attribute_exists(kind)"},
    ],
)
def test_a_scan_reads_filters_pages_and_projects_as_shipped(ddb: Any, request_: dict[str, Any]) -> None:
    ours, shipped = both(lambda: _scan_pages(ddb, **request_))
    assert ours == shipped
    assert sum(p["Count"] for p in ours) > 0


def test_what_a_scan_answered_does_not_follow_later_writes(ddb: Any) -> None:
    before = ddb.scan(TableName=TABLE, FilterExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}})["Items"]
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p1"}, "sk": {"S": "s01"}},
        UpdateExpression="SET n = :n REMOVE lane",
        ExpressionAttributeValues={":n": {"N": "999"}},
    )
    after = ddb.scan(TableName=TABLE, FilterExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}})["Items"]
    changed = next(i for i in after if i["sk"]["S"] == "s01")
    assert changed["n"] == {"N": "999"} and "lane" not in changed
    assert next(i for i in before if i["sk"]["S"] == "s01") != changed


def test_only_a_value_without_binary_in_it_is_written_as_it_is() -> None:
    from nudgeloop_cli.local.dynamodb_values import plain

    written_as_is = ["s", "empty", "n", "ss", "ns", "null", "yes", "no", "map"]
    assert [name for name, value in EVERY_TYPE.items() if plain(value)] == ["pk", "sk", *written_as_is]
    assert not plain({"M": {"a": {"L": [{"B": b"\x01"}]}}})  # binary deep inside: serialized by moto
    assert not plain({"S": 1}) and not plain({"S": "a", "N": "1"}) and not plain({})


def test_the_pollers_read_a_stream_as_get_records_answers(ddb: Any) -> None:
    """The local event source mappings read moto's shard directly: what they hand on is what
    GetRecords answers through boto3 (every attribute type, old and new images, removals),
    in the same batches after the same positions."""
    from nudgeloop_cli.local import pumps

    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE)
    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE | {"s": {"S": "changed"}, "b": {"B": b"\x01"}})
    ddb.delete_item(TableName=TABLE, Key={"pk": EVERY_TYPE["pk"], "sk": EVERY_TYPE["sk"]})
    streams = stream_client()
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def answered(position: str | None, limit: int) -> list[dict[str, Any]]:
        where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position} if position else {}
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **({"ShardIteratorType": "TRIM_HORIZON"} | where))
        return streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=limit)["Records"]

    every = answered(None, 1000)
    assert len(every) == 6 * 12 + 3 and every[-1]["eventName"] == "REMOVE"
    positions = [None, every[0]["dynamodb"]["SequenceNumber"], every[-4]["dynamodb"]["SequenceNumber"]]
    for position in positions:
        for limit in (1, 3, 1000):
            assert pumps.polled_records(TABLE, position, limit) == answered(position, limit)
    assert pumps.polled_records(TABLE, every[-1]["dynamodb"]["SequenceNumber"], 10) == []
    modified = pumps.polled_records(TABLE, every[-3]["dynamodb"]["SequenceNumber"], 1)[0]["dynamodb"]
    assert modified["OldImage"]["b"] == {"B": b"\x00\xffbinary"} and modified["NewImage"]["b"] == {"B": b"\x01"}
