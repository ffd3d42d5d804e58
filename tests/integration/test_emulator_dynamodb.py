"""The local runtime's faster DynamoDB (cli/nudgeloop_cli/local/dynamodb.py) answers as DynamoDB
does, and exactly as moto as shipped answers: ordering, pagination, key conditions, filters,
index projections, every attribute type, and transactions that fail leaving nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from nudgeloop_cli.local import dynamodb

TABLE = "emulator-test"


@pytest.fixture
def ddb() -> Iterator[Any]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "lane", "due", "kind")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-due",
                    "KeySchema": [{"AttributeName": "lane", "KeyType": "HASH"}, {"AttributeName": "due", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
                },
                {
                    "IndexName": "by-kind",
                    "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for p in range(6):
            for s in range(12):
                item: dict[str, Any] = {
                    "pk": {"S": f"p{p}"},
                    "sk": {"S": f"s{(s * 7) % 12:02d}"},
                    "n": {"N": str(s * 3 - 10)},
                    "note": {"S": f"note {p}/{s}"},
                    "secret": {"S": "not projected"},
                }
                if s % 3:  # a third of the items are not in the due index (sparse)
                    item["lane"] = {"S": str((p + s) % 3)}
                    item["due"] = {"S": f"2026-01-{1 + (s % 4):02d}"}  # equal index keys across items
                if s % 2:
                    item["kind"] = {"S": "odd"}
                client.put_item(TableName=TABLE, Item=item)
        yield client


def _streams() -> Any:
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
    streams = _streams()
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> list[dict[str, Any]]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return [r["dynamodb"] for r in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]]

    ours, shipped = both(records)
    assert ours == shipped and ours[-1]["NewImage"]["b"] == {"B": b"\x00\xffbinary"}


def _state(ddb: Any) -> list[dict[str, Any]]:
    items = ddb.scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _stream_length(ddb: Any) -> int:
    streams = _streams()
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def _transaction(last_condition: str) -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"S": "x"}, "n": {"N": "1"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "p1"}, "sk": {"S": "s01"}},
                "UpdateExpression": "SET n = n + :one, lane = :s",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "moved"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p2"}, "sk": {"S": "s02"}}}},
        {
            "Put": {
                "TableName": TABLE,
                "Item": {"pk": {"S": "p3"}, "sk": {"S": "s03"}, "n": {"N": "0"}},
                "ConditionExpression": last_condition,
            }
        },
    ]


def test_a_cancelled_transaction_leaves_items_indexes_and_stream_as_they_were(ddb: Any) -> None:
    before, records = _state(ddb), _stream_length(ddb)
    # the index's entries exist before the transaction, so its restore must put them back
    ddb.query(
        TableName=TABLE, IndexName="by-due", KeyConditionExpression="lane = :s", ExpressionAttributeValues={":s": {"S": "1"}}
    )
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=_transaction("attribute_not_exists(pk)"))  # the last one fails
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _state(ddb) == before and _stream_length(ddb) == records
    moved = ddb.query(
        TableName=TABLE, IndexName="by-due", KeyConditionExpression="lane = :s", ExpressionAttributeValues={":s": {"S": "moved"}}
    )
    assert moved["Items"] == []  # the index shows the rollback too


def test_cancelled_and_applied_transactions_end_as_shipped(ddb: Any) -> None:
    def run(condition: str) -> tuple[str, list[dict[str, Any]], int]:
        try:
            ddb.transact_write_items(TransactItems=_transaction(condition))
            outcome = "applied"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        return outcome, _state(ddb), _stream_length(ddb)

    cancelled, shipped_cancelled = both(lambda: run("attribute_not_exists(pk)"))
    assert cancelled == shipped_cancelled and cancelled[0] == "TransactionCanceledException"
    applied = run("attribute_exists(pk)")
    assert applied[0] == "applied" and applied[2] == cancelled[2] + 4
    assert not any(i["pk"]["S"] == "p2" and i["sk"]["S"] == "s02" for i in applied[1])


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(ddb: Any) -> None:
    before, records = _state(ddb), _stream_length(ddb)
    twice = [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p1"}, "sk": {"S": "s01"}, "n": {"N": "5"}}}},
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p1"}, "sk": {"S": "s01"}}}},
    ]
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=twice)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert _state(ddb) == before and _stream_length(ddb) == records


def test_index_answers_follow_every_kind_of_write_as_shipped(ddb: Any) -> None:
    """A seeded mix of puts, updates (moving, adding and removing index keys), deletes, batch
    writes and transactions, cancelled or not; after each, every index Query answers as moto as
    shipped answers it."""
    import random

    rng = random.Random(11)
    lanes = ["0", "1", "2", "9"]

    def key() -> dict[str, Any]:
        return {"pk": {"S": f"p{rng.randrange(6)}"}, "sk": {"S": f"s{rng.randrange(12):02d}"}}

    def write() -> None:
        kind = rng.choice(["put", "update", "remove", "delete", "batch", "transaction"])
        k = key()
        try:
            if kind == "put":
                item = {**k, "lane": {"S": rng.choice(lanes)}, "due": {"S": f"2026-02-{rng.randrange(1, 9):02d}"}}
                if rng.random() < 0.5:
                    item["kind"] = {"S": "odd"}
                ddb.put_item(TableName=TABLE, Item=item)
            elif kind == "update":
                ddb.update_item(
                    TableName=TABLE,
                    Key=k,
                    UpdateExpression="SET lane = :l, due = :d",
                    ExpressionAttributeValues={":l": {"S": rng.choice(lanes)}, ":d": {"S": "2026-03-01"}},
                )
            elif kind == "remove":
                ddb.update_item(TableName=TABLE, Key=k, UpdateExpression="REMOVE lane, kind")
            elif kind == "delete":
                ddb.delete_item(TableName=TABLE, Key=k)
            elif kind == "batch":
                ddb.batch_write_item(
                    RequestItems={
                        TABLE: [
                            {"PutRequest": {"Item": {**key(), "lane": {"S": "2"}, "due": {"S": "2026-01-09"}}}},
                            {"DeleteRequest": {"Key": key()}},
                        ]
                    }
                )
            else:
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": {**k, "lane": {"S": "1"}, "due": {"S": "2026-01-05"}}}},
                        {
                            "ConditionCheck": {
                                "TableName": TABLE,
                                "Key": {"pk": {"S": "p0"}, "sk": {"S": "s00"}},
                                "ConditionExpression": "attribute_exists(pk)"
                                if rng.random() < 0.5
                                else "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] in ("TransactionCanceledException", "ValidationException")

    def expected(lane: str) -> list[dict[str, Any]]:  # from a Scan: the index as DynamoDB defines it
        items = [i for i in ddb.scan(TableName=TABLE)["Items"] if i.get("lane", {}).get("S") == lane and "due" in i]
        items.sort(key=lambda i: (i["due"]["S"], i["pk"]["S"], i["sk"]["S"]))
        return [{k: v for k, v in i.items() if k in ("pk", "sk", "lane", "due", "note")} for i in items]

    for _ in range(80):
        write()  # with our entries maintained by the writes (no moto-as-shipped run in between)
        for lane in lanes:
            got = ddb.query(
                TableName=TABLE,
                IndexName="by-due",
                KeyConditionExpression="lane = :s",
                ExpressionAttributeValues={":s": {"S": lane}},
            )["Items"]
            assert got == expected(lane)
        odd = ddb.query(
            TableName=TABLE,
            IndexName="by-kind",
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": {"S": "odd"}},
        )["Items"]
        keys_only = [
            {k: v for k, v in i.items() if k in ("pk", "sk", "kind")} for i in ddb.scan(TableName=TABLE)["Items"] if "kind" in i
        ]
        assert sorted(odd, key=str) == sorted(keys_only, key=str)
    for lane in lanes:  # and moto as shipped agrees
        request = {
            "TableName": TABLE,
            "IndexName": "by-due",
            "KeyConditionExpression": "lane = :s",
            "ExpressionAttributeValues": {":s": {"S": lane}},
        }
        ours, shipped = both(lambda r=request: ddb.query(**r))  # type: ignore[misc]
        assert ours == shipped


def test_the_index_stamp_moves_with_writes_to_its_partitions_only(ddb: Any) -> None:
    def stamp() -> tuple[Any, ...]:
        return dynamodb.index_writes(TABLE, "by-due", ("1",), "123456789012", "eu-west-1")

    def lane_1() -> list[Any]:
        query = ddb.query(
            TableName=TABLE,
            IndexName="by-due",
            KeyConditionExpression="lane = :l",
            ExpressionAttributeValues={":l": {"S": "1"}},
        )
        return query["Items"]

    before_any_query = stamp()
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "x"}, "sk": {"S": "1"}})
    assert stamp() != before_any_query  # before the index is read, any write of the table moves it
    seen = lane_1()
    start = stamp()
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "x"}, "sk": {"S": "2"}, "lane": {"S": "2"}, "due": {"S": "d"}})
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "x"}, "sk": {"S": "3"}})  # in no partition
    assert stamp() == start and lane_1() == seen  # nothing entered, left or changed in lane 1
    moves = [
        lambda: ddb.put_item(TableName=TABLE, Item={"pk": {"S": "x"}, "sk": {"S": "4"}, "lane": {"S": "1"}, "due": {"S": "d"}}),
        lambda: ddb.update_item(  # changes in place
            TableName=TABLE,
            Key={"pk": {"S": "x"}, "sk": {"S": "4"}},
            UpdateExpression="SET due = :d",
            ExpressionAttributeValues={":d": {"S": "e"}},
        ),
        lambda: ddb.update_item(  # moves to lane 2: leaves lane 1
            TableName=TABLE,
            Key={"pk": {"S": "x"}, "sk": {"S": "4"}},
            UpdateExpression="SET lane = :l",
            ExpressionAttributeValues={":l": {"S": "2"}},
        ),
        lambda: ddb.update_item(  # back into lane 1 from lane 2
            TableName=TABLE,
            Key={"pk": {"S": "x"}, "sk": {"S": "2"}},
            UpdateExpression="SET lane = :l",
            ExpressionAttributeValues={":l": {"S": "1"}},
        ),
        lambda: ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "x"}, "sk": {"S": "2"}}),
    ]
    for move in moves:
        previous, answer = stamp(), lane_1()
        move()
        assert stamp() != previous
        assert lane_1() != answer


def test_one_condition_with_other_values_or_names_is_judged_anew(ddb: Any) -> None:
    def put(condition: str, names: dict[str, str], values: dict[str, Any]) -> str:
        try:
            ddb.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "p0"}, "sk": {"S": "s01"}, "n": {"N": "5"}},
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return "written"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    asked = [
        ("#a > :v", {"#a": "n"}, {":v": {"N": "100"}}),
        ("#a > :v", {"#a": "n"}, {":v": {"N": "-100"}}),
        ("#a > :v", {"#a": "n"}, {":v": {"N": "100"}}),  # the first again, after the second
        ("#a > :v", {"#a": "missing"}, {":v": {"N": "-100"}}),
        ("#a = :v", {"#a": "n"}, {":v": {"N": "5"}}),  # the stored value is 5 since the second
        ("#a = :v", {"#a": "n"}, {":v": {"S": "5"}}),
    ]
    ours = [put(*a) for a in asked]
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p0"}, "sk": {"S": "s01"}, "n": {"N": "-3"}})
    with dynamodb.as_shipped():
        shipped = [put(*a) for a in asked]
    assert ours == shipped
    failed, written = "ConditionalCheckFailedException", "written"
    assert ours == [failed, written, failed, failed, written, failed]
