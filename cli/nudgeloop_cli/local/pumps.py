"""The event source mappings: table streams and SQS queues polled into their consumers as
Lambda polls them (batches, checkpoints, retries, on-failure messages), asking moto only when
a stream or queue holds something to deliver."""

from __future__ import annotations

import base64
import calendar
import functools
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.services.redrive import lambda_record

from .base import REGION, LocalError, error_type
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack


class Pumps:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._stream_positions: dict[str, str] = {}  # consumer/shard -> last sequence number handled
        self._stream_attempts: dict[str, int] = {}
        self._shards: dict[str, list[str]] = {}

    def _deliver(self, function_key: str, event: dict[str, Any]) -> dict[str, Any]:
        """Hand a batch to its function; the fault plan may deliver a successful one again (at
        least once), and then the second answer is the one the mapping goes by, or report one of
        its records failed (a partial failure)."""
        result = self.stack.call(function_key, event) or {}
        if not result.get("batchItemFailures") and self.stack.faults.duplicated(function_key):
            result = self.stack.call(function_key, event) or {}
        if not result.get("batchItemFailures"):  # the plan may report one handled record failed
            failed = self.stack.faults.failed_record(function_key, len(event["Records"]))
            if failed is not None:
                record = event["Records"][failed]
                identifier = record["messageId"] if "messageId" in record else record["dynamodb"]["SequenceNumber"]
                result = {"batchItemFailures": [{"itemIdentifier": identifier}]}
        return result  # type: ignore[no-any-return]

    def streams_client(self) -> Any:
        return _streams_client()

    def skip_streams(self) -> None:
        """Every consumer reads on after the records its table's stream holds now, as an event
        source mapping created with ``StartingPosition: LATEST`` does (for data loaded as
        history that its consumers are taken to have applied long ago, as benches load it)."""
        from moto.dynamodb.models import dynamodb_backends

        assert self.stack.res is not None
        for spec in self.stack.catalog.streams:
            table = dynamodb_backends[ACCOUNT][REGION].tables[self.stack.catalog.table(spec.table_key).name]
            shard = getattr(table, "stream_shard", None)
            if shard is not None and shard.items:
                self._stream_positions[f"{spec.function_key}/{shard.id}"] = shard.items[-1].record["dynamodb"]["SequenceNumber"]

    def pump_streams(self) -> int:
        """What the Lambda event source mapping does for a table stream: batches of records,
        checkpoint after success, retry from the first failed record, and after the retries
        are spent an on-failure message to the DLQ. The mapping is AWS's own poller, not a
        call of the function's role: it reads moto's shard as GetRecords would answer it
        (``polled_records``), without a request's serializing and parsing."""
        assert self.stack.res is not None
        handled = 0
        for spec in self.stack.catalog.streams:
            arn = self.stack.res.stream_arns[spec.table_key]
            table_name = self.stack.catalog.table(spec.table_key).name
            if arn not in self._shards:  # a table's stream keeps its shard (moto has one per table)
                streams = self.streams_client()
                self._shards[arn] = [s["ShardId"] for s in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]
            for shard_id in self._shards[arn]:
                cursor = f"{spec.function_key}/{shard_id}"  # each consumer reads the stream on its own
                position = self._stream_positions.get(cursor)
                if not _stream_has_records_after(table_name, position):
                    continue  # what the poller would find: nothing
                fetched = polled_records(table_name, position, spec.batch_size)
                if not fetched:
                    continue
                records = [r for r in fetched if r["eventName"] in spec.event_names]
                if not records:
                    self._stream_positions[cursor] = fetched[-1]["dynamodb"]["SequenceNumber"]
                    continue
                handled += len(records)
                event = {"Records": [lambda_record(r, arn, REGION) for r in records]}
                try:
                    result = self._deliver(spec.function_key, event)
                    failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
                    if failed:
                        self.stack.failed(spec.function_key, "BatchItemFailure", ", ".join(failed))
                except Exception as exc:  # the whole batch failed
                    self.stack.failed(spec.function_key, error_type(exc), str(exc))
                    failed = [records[0]["dynamodb"]["SequenceNumber"]]
                if not failed:
                    self._stream_positions[cursor] = fetched[-1]["dynamodb"]["SequenceNumber"]
                    continue
                first = min(failed, key=int)
                before = [r["dynamodb"]["SequenceNumber"] for r in fetched if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
                if before:
                    self._stream_positions[cursor] = before[-1]
                attempt_key = f"{spec.function_key}/{first}"
                attempts = self._stream_attempts[attempt_key] = self._stream_attempts.get(attempt_key, 0) + 1
                if attempts > spec.retry_attempts:
                    # moto stamps records with the wall clock; locally the simulated clock is the time
                    arrived_iso = clock.iso(self.stack.clock.now())
                    # What Lambda sends to an SQS on-failure destination: where the batch was, not its records.
                    aws.client("sqs").send_message(
                        QueueUrl=self.stack.res.dlq_urls[spec.dlq_name],
                        MessageBody=json.dumps(
                            {
                                "requestContext": {
                                    "requestId": str(uuid.uuid4()),
                                    "functionArn": self.stack.res.function_arns[spec.function_key],
                                    "condition": "RetryAttemptsExhausted",
                                    "approximateInvokeCount": attempts,
                                },
                                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
                                "version": "1.0",
                                "timestamp": clock.iso(self.stack.clock.now()),
                                "DDBStreamBatchInfo": {
                                    "shardId": shard_id,
                                    "startSequenceNumber": first,
                                    "endSequenceNumber": first,
                                    "approximateArrivalOfFirstRecord": arrived_iso,
                                    "approximateArrivalOfLastRecord": arrived_iso,
                                    "batchSize": 1,
                                    "streamArn": arn,
                                },
                            }
                        ),
                    )
                    self._stream_positions[cursor] = first
        return handled

    def pump_queues(self) -> int:
        """What the SQS event source mappings do: a batch per queue to its consumer, deleting
        what succeeded; failures are visible again at once (moto dead-letters them after
        ``maxReceiveCount``). Returns messages handled."""
        assert self.stack.res is not None
        handled = 0
        sqs = aws.client("sqs")
        for fn in self.stack.catalog.functions:
            if fn.queue_key is None:
                continue
            spec = self.stack.catalog.queue(fn.queue_key)
            url = self.stack.res.queue_urls[fn.queue_key]
            if not _queue_holds_messages(spec.name):
                continue  # the poller's receive would come back empty
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=spec.batch_size, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                continue
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.stack.res.queue_arns[fn.queue_key],
                        "awsRegion": REGION,
                    }
                    for m in messages
                ]
            }
            try:
                result = self._deliver(fn.key, event)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                if failed:
                    self.stack.failed(fn.key, "BatchItemFailure", ", ".join(sorted(failed)))
            except Exception as exc:  # Lambda failed the whole batch: every message comes back
                self.stack.failed(fn.key, error_type(exc), str(exc))
                failed = {m["MessageId"] for m in messages}
            for m in messages:
                if m["MessageId"] in failed:
                    # Visible again at once; moto moves it to the DLQ after maxReceiveCount.
                    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:  # as the mapping deletes them: one DeleteMessageBatch per batch (at most 10)
                answer = sqs.delete_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                )
                if answer.get("Failed"):
                    raise LocalError(f"the pump could not remove handled messages of {spec.name}: {answer['Failed']}")
            handled += len(messages)
        return handled


def _stream_has_records_after(table_name: str, position: str | None) -> bool:
    """Whether a table's stream holds a record after ``position`` (None: any record), read
    from moto's backend: the pollers ask moto only when there is something to deliver."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].tables.get(table_name)
    shard = getattr(table, "stream_shard", None)
    if shard is None or not shard.items:
        return False
    if position is None:
        return True
    return int(shard.items[-1].record["dynamodb"]["SequenceNumber"]) > int(position)


def polled_records(table_name: str, position: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` records of a table's stream after ``position`` (None: from the start), as
    GetRecords answers them through boto3: binary values as bytes (moto holds a top-level one
    base64-encoded, a nested one as bytes), the creation time an aware UTC datetime. Compared
    with GetRecords in ``tests/integration/emulator_dynamodb/test_reads.py``."""
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[ACCOUNT][REGION].tables[table_name].stream_shard
    if shard is None:  # no stream on the table
        return []
    start = shard.starting_sequence_number if position is None else int(position) + 1
    first = shard.starting_sequence_number
    return [_as_answered(item.to_json()) for item in shard.items[max(start - first, 0) : max(start - first, 0) + limit]]


def _as_answered(record: dict[str, Any]) -> dict[str, Any]:
    held = record["dynamodb"]
    dynamodb: dict[str, Any] = {}
    for key, value in held.items():
        if key in ("Keys", "NewImage", "OldImage"):
            dynamodb[key] = {name: _value(v) for name, v in value.items()}
        elif key == "ApproximateCreationDateTime":
            # moto answers epoch seconds truncated to milliseconds (its naive UTC), botocore parses them
            seconds = calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0
            dynamodb[key] = datetime.fromtimestamp(seconds, tz=UTC)
        else:
            dynamodb[key] = value
    return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": dynamodb}


def _value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {kind: _bytes(inner)}
    if kind == "BS":
        return {kind: [_bytes(b) for b in inner]}
    if kind == "M":
        return {kind: {k: _value(v) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_value(v) for v in inner]}
    if kind in ("SS", "NS"):
        return {kind: list(inner)}
    return {kind: inner}


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def _queue_holds_messages(queue_name: str) -> bool:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues.get(queue_name)
    return queue is None or bool(queue._messages)  # an unknown queue: let the receive say so


@functools.cache
def _streams_client() -> Any:
    """The pollers' DynamoDB Streams client, kept from stack to stack as other clients are. moto
    serves DynamoDB Streams only on the regional endpoint, not the account-based one."""
    return boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
