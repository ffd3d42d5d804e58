"""Redriving dead letters, the same way locally and against AWS.

- Queue DLQs (feedback, trigger, templates): messages move back to their source queue.
- The failures queue (``nudgeloop-failures``, ``invoke_again``): a table stream's batch whose
  retries are spent (ingest-process, ingest-archive, segment-counts) goes through its function
  again, read back from the stream or the archive; an asynchronous invocation Lambda gave up on
  (an import, a confirmation mail, a scheduled job) is invoked again; what EventBridge could not
  deliver is left for the operator (the message says which rule).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from nudgeloop import clock
from nudgeloop.permissions import function_name
from nudgeloop.services import archive
from nudgeloop.specs import Catalog, QueueSpec, StreamSourceSpec

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Outcome:
    redriven: int = 0  # messages whose records went through (deleted from the DLQ)
    failed: int = 0  # messages whose records failed again (left in the DLQ)
    lost: int = 0  # messages whose records are neither in the stream nor in the archive
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "failed": self.failed, "lost": self.lost, "details": self.details}


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60).get("Messages", [])
    )


FAILURES = "failures"  # source_of's answer for the failures queue


def source_of(cat: Catalog, dlq_name: str) -> QueueSpec | StreamSourceSpec | str | None:
    """What feeds a dead-letter queue: a queue (redrive = move back), a stream consumer, or
    asynchronous invocations (``FAILURES``)."""
    if dlq_name == cat.failures_queue:
        return FAILURES
    return next((q for q in cat.queues if q.dlq_name == dlq_name), None) or next(
        (s for s in cat.streams if s.dlq_name == dlq_name), None
    )


def invoke_again(sqs: Any, url: str, invoke_async: Callable[[str, dict[str, Any]], None], streams: StreamRedrive) -> Outcome:
    """The failures queue. A stream's on-failure record names the failed batch (shard and
    sequence numbers), not its contents: the records are read back from the stream (kept 24
    hours) or, for the events table, after that from the S3 archive (every stored event carries
    its stream sequence number there), and the function is invoked with them again; processing
    is idempotent, so a redrive never double-counts, and the message is deleted only after its
    records went through. An asynchronous invocation's record is invoked again (the function
    named by ``requestContext.functionArn``, with ``requestPayload``), asynchronously, then
    deleted; a retry that fails again comes back with a new record. Any other message (an event
    EventBridge could not deliver) is left where it is and reported."""
    outcome = Outcome()
    seen: set[str] = set()
    while True:
        got = _receive(sqs, url)
        received = [m for m in got if m["MessageId"] not in seen]
        for again in (m for m in got if m["MessageId"] in seen):
            _release(sqs, url, again)  # already looked at in this run: leave it for the next
        if not received:
            break
        for message in received:
            seen.add(message["MessageId"])
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = {}
            arn = str((body.get("requestContext") or {}).get("functionArn", "")) if isinstance(body, dict) else ""
            spec = streams.spec_of(arn) if arn and "DDBStreamBatchInfo" in body else None
            if spec is not None:
                _redrive_batch(sqs, url, message, spec, streams, outcome)
                continue
            if not arn or "requestPayload" not in body:
                _release(sqs, url, message)
                outcome.failed += 1
                outcome.details.append(f"{message['MessageId']}: not an invocation record (an undelivered event): left")
                continue
            name = function_name(arn)
            invoke_async(name, body["requestPayload"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            outcome.redriven += 1
            outcome.details.append(f"{message['MessageId']}: {name} invoked again")
    return outcome


def _release(sqs: Any, url: str, message: dict[str, Any]) -> None:
    """Leave a message in the DLQ, visible again for the next redrive."""
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def move_back(sqs: Any, dlq_url: str, source_url: str, limit: int = 10_000) -> Outcome:
    """Queue DLQ: send each message to its source queue again, then delete it here."""
    outcome = Outcome()
    while outcome.redriven < limit:
        messages = _receive(sqs, dlq_url)
        if not messages:
            break
        for message in messages:
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            outcome.redriven += 1
    return outcome


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as the Lambda event source mapping hands it to a function."""
    dynamodb = {k: v for k, v in record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record.get("eventID", dynamodb["SequenceNumber"]),
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def _from_stream(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The batch's records from the stream, or None when the stream no longer has them."""
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
    except ClientError:  # trimmed, expired, or a closed shard that aged out: try the archive
        return None
    found: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            seq = int(record["dynamodb"]["SequenceNumber"])
            if seq > last:
                return found
            if seq >= first:
                found.append(record)
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return found or None


def _from_archive(bucket: str, info: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The batch's records rebuilt from the archive (INSERT images with their sequence numbers)."""
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    arrived = clock.parse_iso(info.get("approximateArrivalOfFirstRecord") or clock.iso(clock.now()))
    serializer = TypeSerializer()
    found = []
    for day in {(arrived + timedelta(days=d)).date().isoformat() for d in (-1, 0, 1)}:
        for line in archive.read(bucket, day):
            seq = int(line.get("stream_sequence") or -1)
            if first <= seq <= last:
                image = {k: v for k, v in line.items() if k != "stream_sequence"}
                image["properties"] = json.dumps(image["properties"])
                found.append(
                    {
                        "eventID": f"archive-{seq}",
                        "eventName": "INSERT",
                        "dynamodb": {
                            "Keys": {k: serializer.serialize(image[k]) for k in ("customer_id", "event_id")},
                            "NewImage": {k: serializer.serialize(v) for k, v in image.items()},
                            "SequenceNumber": str(seq),
                            "StreamViewType": "NEW_IMAGE",
                        },
                    }
                )
    return sorted(found, key=lambda r: int(r["dynamodb"]["SequenceNumber"])) or None


ARCHIVER = "ingest_archive"


def archive_bucket_for(cat: Catalog, spec: StreamSourceSpec, data_bucket: str) -> str | None:
    """The bucket holding an archive of the stream's table, if it has one (the events table's);
    another table's sequence numbers must never be looked up there."""
    archived = any(s.function_key == ARCHIVER and s.table_key == spec.table_key for s in cat.streams)
    return data_bucket if archived else None


def why(result: dict[str, Any]) -> str:
    """What a failed invocation says about its failure: the last line of its error (for a batch
    whose every record failed, the records' own exception), or the records it could not apply."""
    if result.get("errorType"):
        lines = [line.strip() for line in str(result.get("errorMessage", "")).splitlines() if line.strip()]
        return f"{result['errorType']}: {lines[-1] if lines else ''}"[:500]
    failed = [str(f.get("itemIdentifier")) for f in result.get("batchItemFailures", [])]
    return f"records {', '.join(failed)} not applied (the function's log has each exception: 'event not applied')"


@dataclass(frozen=True)
class StreamRedrive:
    """What re-invoking a table stream's consumer needs: the streams client, the region, each
    function's synchronous invoke (by function key) and the archive bucket of its table."""

    catalog: Catalog
    streams: Any
    region: str
    invoke: Callable[[str], Invoke]
    data_bucket: str

    def spec_of(self, function_arn: str) -> StreamSourceSpec | None:
        name = function_name(function_arn)
        key = next((f.key for f in self.catalog.functions if f.name == name), None)
        return next((s for s in self.catalog.streams if s.function_key == key), None)


def _redrive_batch(
    sqs: Any, url: str, message: dict[str, Any], spec: StreamSourceSpec, how: StreamRedrive, outcome: Outcome
) -> None:
    """One stream on-failure record: the batch's records from the stream, or from the archive
    when the table has one, through the function again; deleted once they went through."""
    info = json.loads(message["Body"]).get("DDBStreamBatchInfo") or {}
    records = _from_stream(how.streams, info) if info else None
    source = "stream"
    archive_bucket = archive_bucket_for(how.catalog, spec, how.data_bucket)
    if records is None and info and archive_bucket:
        records, source = _from_archive(archive_bucket, info), "archive"
    if not records:
        _release(sqs, url, message)
        outcome.lost += 1
        outcome.details.append(f"{message['MessageId']}: records {info.get('startSequenceNumber')}.. not found")
        return
    event = {"Records": [lambda_record(r, info["streamArn"], how.region) for r in records]}
    result = how.invoke(spec.function_key)(event) or {}
    if result.get("errorType") or result.get("batchItemFailures"):
        _release(sqs, url, message)
        outcome.failed += 1
        outcome.details.append(f"{message['MessageId']}: failed again ({source}): {why(result)}")
        return
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    outcome.redriven += 1
    outcome.details.append(f"{message['MessageId']}: {len(records)} record(s) of {spec.function_key} from the {source}")
