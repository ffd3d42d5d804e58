"""The local runtime's faster DynamoDB (cli/nudgeloop_cli/local/dynamodb.py) writes as DynamoDB
does, and exactly as moto as shipped answers: transactions that fail leave nothing behind,
index answers follow every kind of write, parsed conditions are judged anew for new values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nudgeloop_cli.local import dynamodb

from .support import TABLE, both, stream_client


def _state(ddb: Any) -> list[dict[str, Any]]:
    items = ddb.scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _stream_length(ddb: Any) -> int:
    streams = stream_client()
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


def test_a_refused_condition_or_filter_is_refused_every_time_as_shipped(ddb: Any) -> None:
    """The validation the request handlers make with a parse (names used, syntax) answers as
    moto's does, the second time too (a failed parse is not kept)."""

    def answer(call: Callable[[], Any]) -> str:
        try:
            call()
            return "ok"
        except ClientError as exc:
            return f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
        except ValueError as exc:  # moto's answer to a syntax error (AWS: a ValidationException)
            return f"ValueError: {exc}"

    def put(condition: str, names: dict[str, str]) -> Callable[[], Any]:
        item = {"pk": {"S": "p0"}, "sk": {"S": "s02"}}
        return lambda: ddb.put_item(TableName=TABLE, Item=item, ConditionExpression=condition, ExpressionAttributeNames=names)

    def query(filter_: str, names: dict[str, str]) -> Callable[[], Any]:
        return lambda: ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            FilterExpression=filter_,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":p": {"S": "p0"}},
        )

    asked = [
        put("attribute_not_exists(#k)", {"#k": "pk", "#unused": "sk"}),  # a name it does not use
        put("attribute_not_exists(#k) AND", {"#k": "pk"}),  # not an expression
        put("attribute_not_exists(#k)", {"#k": "pk"}),
        query("attribute_exists(#k)", {"#k": "sk", "#unused": "n"}),
        query("attribute_exists(#k)", {"#k": "sk"}),
    ]
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "p0"}, "sk": {"S": "s02"}})
    ours = [answer(a) for a in asked + asked]
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "p0"}, "sk": {"S": "s02"}})
    with dynamodb.as_shipped():
        shipped = [answer(a) for a in asked + asked]
    assert ours == shipped
    assert [a.split(":")[0] for a in ours[:5]] == ["ValidationException", "ValueError", "ok", "ValidationException", "ok"]
    assert ours[7].startswith("ConditionalCheckFailedException")  # the item written the first time


def test_one_update_expression_with_other_values_names_and_items_applies_anew(ddb: Any) -> None:
    def update(sk: str, expression: str, names: dict[str, str], values: dict[str, Any]) -> Any:
        try:
            return ddb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "u0"}, "sk": {"S": sk}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    add = "SET #a = if_not_exists(#a, :zero) + :n, tags = list_append(if_not_exists(tags, :empty), :t)"
    asked = [
        ("s1", add, {"#a": "n"}, {":zero": {"N": "0"}, ":n": {"N": "2"}, ":empty": {"L": []}, ":t": {"L": [{"S": "x"}]}}),
        ("s1", add, {"#a": "n"}, {":zero": {"N": "0"}, ":n": {"N": "5"}, ":empty": {"L": []}, ":t": {"L": [{"S": "y"}]}}),
        ("s2", add, {"#a": "m"}, {":zero": {"N": "10"}, ":n": {"N": "1"}, ":empty": {"L": []}, ":t": {"L": []}}),
        ("s1", "REMOVE #a", {"#a": "n"}, {}),
        ("s1", "SET #a = :n", {"#a": "n"}, {":n": {"S": "text"}}),
        ("s1", add, {"#a": "n"}, {":zero": {"N": "0"}, ":n": {"N": "1"}, ":empty": {"L": []}, ":t": {"L": []}}),  # text + 1
        ("s1", "SET #a = :missing", {"#a": "n"}, {":n": {"N": "1"}}),  # a value the expression names but nobody gave
    ]

    def run() -> list[Any]:
        for sk in ("s1", "s2"):
            ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "u0"}, "sk": {"S": sk}})
        return [update(*a) for a in asked]

    ours, shipped = both(run)
    assert ours == shipped
    assert ours[1]["n"] == {"N": "7"} and ours[1]["tags"] == {"L": [{"S": "x"}, {"S": "y"}]}
    assert ours[2]["m"] == {"N": "11"}
    assert "n" not in ours[3] and ours[4]["n"] == {"S": "text"}
    assert ours[5] == ours[6] == "ValidationException"
