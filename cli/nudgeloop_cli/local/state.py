"""``nudgeloop local serve --state DIR``: the local stack's data kept across restarts.

What AWS keeps by itself, the local runtime writes to ``DIR`` when it stops (after it has
finished what it accepted) and reads back when it starts:

- **DynamoDB**: every item of every table (DynamoDB JSON, a file per table). Restored in
  place, without stream records: they were processed before the save.
- **S3**: every object version of every bucket, delete markers included, with its version id,
  time and metadata (bodies base64-encoded): campaign history and pinned versions survive.
- **SQS**: the messages still in a queue (after the drain, those of the dead-letter queues),
  sent again on start.
- **Journeys**: every journey parked on a wait, as the state it parked with. A restart has no
  Step Functions execution to resume, so each starts again under its own name from that
  state: Plan parks it again until its wait is over (as after a Park timeout), then it goes on.
- **The clock and the schedules**: the simulated time and when each schedule last fired.
- **The API keys** of the stack's usage plan (their values, scopes and state): a key made with
  ``POST /v1/keys`` still works after a restart, and a revoked one stays revoked.
- **The local signing secret**, so that unsubscribe and preference links in earlier mails
  still verify.
- **The SES outbox** of ``/_local/outbox``: every mail SES accepted, in order, with the
  configuration set it was sent with (what SES's own history would tell), so the mails of
  before a restart can still be opened, clicked or bounced.

Not kept (``docs/operations.md``): the names of closed executions (re-entry is refused by the journey
entry claims in DynamoDB all the same), and an execution's age (a restored journey's year
starts again).

JSON, not pickles: a state directory outlives an upgrade of moto, and loading it runs no code.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.specs import usage_plan_name

from . import dynamodb
from .base import REGION, LocalError
from .provision import ACCOUNT

if TYPE_CHECKING:
    from .runtime import LocalStack

FORMAT = 1
META = "state.json"


def saved(directory: Path) -> bool:
    return (directory / META).is_file()


def clear(directory: Path) -> None:
    """``--fresh``: forget what was saved."""
    if directory.exists():
        shutil.rmtree(directory)


def save(stack: LocalStack, directory: Path) -> dict[str, int]:
    """Write the stack's data to ``directory`` (replaced whole, never half-written): call it
    settled, with nothing in flight. Returns what was written, by kind."""
    work = directory.with_name(directory.name + ".saving")
    clear(work)
    work.mkdir(parents=True)
    counts: dict[str, int] = {}
    with stack.aws_lock:
        counts["items"] = _save_tables(stack, work)
        counts["objects"] = _save_buckets(stack, work)
        counts["messages"] = _save_queues(stack, work)
        journeys = _parked_journeys(stack)
        counts["journeys"] = sum(1 for j in journeys if j["state"] is not None)
        counts["journeys_not_parked"] = len(journeys) - counts["journeys"]
        secrets = aws.client("secretsmanager")
        meta = {
            "format": FORMAT,
            "clock_mode": stack.clock_mode,
            "now": clock.iso(stack.clock.now()),
            "last_fired": {key: clock.iso(moment) for key, moment in stack.scheduler.last_fired().items()},
            "signing_secret": secrets.get_secret_value(SecretId=stack.catalog.signing_secret_name)["SecretString"],
            "outbox": stack.mailbox.sent_for_state(),
            "api_keys": _saved_keys(stack),
            "journeys": journeys,
            "counts": counts,
        }
    (work / META).write_text(json.dumps(meta, indent=1))
    previous = directory.with_name(directory.name + ".previous")
    clear(previous)
    if directory.exists():
        directory.rename(previous)
    work.rename(directory)
    clear(previous)
    return counts


def restore(stack: LocalStack, directory: Path) -> dict[str, int]:
    """Load what ``save`` wrote into a freshly provisioned stack (before any request)."""
    meta = json.loads((directory / META).read_text())
    if meta.get("format") != FORMAT:
        raise LocalError(f"{directory}: state format {meta.get('format')} is not {FORMAT}; start with --fresh")
    if meta["clock_mode"] != stack.clock_mode:
        raise LocalError(f"{directory} was saved with the {meta['clock_mode']} clock; start with the same --clock")
    with stack.aws_lock:
        if isinstance(stack.clock, clock.SimulatedClock):
            stack.clock.set(clock.parse_iso(meta["now"]))
        stack.scheduler.restore({key: clock.parse_iso(moment) for key, moment in meta["last_fired"].items()})
        aws.client("secretsmanager").put_secret_value(
            SecretId=stack.catalog.signing_secret_name, SecretString=meta["signing_secret"]
        )
        counts = {
            "items": _restore_tables(stack, directory),
            "objects": _restore_buckets(stack, directory),
            "messages": _restore_queues(stack, directory),
        }
        counts["journeys"] = _restart_journeys(stack, meta["journeys"])
        stack.mailbox.restore_sent(meta.get("outbox", []))
        if "api_keys" in meta:  # saved before keys were kept: the shipped keys as provisioned
            counts["api_keys"] = _restore_keys(stack, meta["api_keys"])
    stack.settle()  # the restarted journeys park again (or go on, if their wait is over)
    return counts


# ---------------------------------------------------------------------------- API keys


def _stack_keys(stack: LocalStack) -> tuple[Any, list[Any]]:
    """The stack's usage plan and its keys (moto's API Gateway)."""
    gateway = aws.client("apigateway")
    plan = next(p for p in gateway.get_usage_plans()["items"] if p["name"] == usage_plan_name(stack.catalog.prefix))
    # moto keeps a deleted key in the plan (AWS removes it): only the keys that still exist
    existing = {k["id"] for k in gateway.get_api_keys()["items"]}
    keys = [k for k in gateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"] if k["id"] in existing]
    return plan, [gateway.get_api_key(apiKey=k["id"], includeValue=True) for k in keys]


def _saved_keys(stack: LocalStack) -> list[dict[str, Any]]:
    """Every key of the stack (the shipped ones and those made with ``POST /v1/keys``), values
    included: a local stand-in's keys, kept so that a client's key works after a restart."""
    return [
        {"name": k["name"], "value": k["value"], "enabled": k["enabled"], "tags": k.get("tags") or {}}
        for k in _stack_keys(stack)[1]
    ]


def _restore_keys(stack: LocalStack, saved: list[dict[str, Any]]) -> int:
    """Replace the freshly provisioned keys with the saved ones (revoked keys stay revoked)."""
    gateway = aws.client("apigateway")
    plan, provisioned = _stack_keys(stack)
    for key in provisioned:
        gateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
        gateway.delete_api_key(apiKey=key["id"])
    for key in saved:
        made = gateway.create_api_key(name=key["name"], value=key["value"], enabled=key["enabled"], tags=key["tags"])
        gateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=made["id"], keyType="API_KEY")
    return len(saved)


# ---------------------------------------------------------------------------- DynamoDB


def _tables() -> dict[str, Any]:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].tables  # type: ignore[no-any-return]


def _save_tables(stack: LocalStack, work: Path) -> int:
    tables, written = _tables(), 0
    (work / "dynamodb").mkdir()
    for spec in stack.catalog.tables:
        with (work / "dynamodb" / f"{spec.key}.jsonl").open("w") as out:
            for item in dynamodb.every_item(tables[spec.name]):
                out.write(json.dumps(item.to_json()["Attributes"]) + "\n")
                written += 1
    return written


def _restore_tables(stack: LocalStack, directory: Path) -> int:
    tables, loaded = _tables(), 0
    for spec in stack.catalog.tables:
        path = directory / "dynamodb" / f"{spec.key}.jsonl"
        if not path.is_file():
            continue
        table = tables[spec.name]
        stream, table.stream_shard = table.stream_shard, None  # processed before the save
        try:
            with path.open() as lines:
                for line in lines:
                    table.put_item(json.loads(line))
                    loaded += 1
        finally:
            table.stream_shard = stream
    return loaded


# ---------------------------------------------------------------------------- S3


def _bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT]["aws"].get_bucket(name)


def _save_buckets(stack: LocalStack, work: Path) -> int:
    from moto.s3.models import FakeDeleteMarker

    assert stack.res is not None
    written = 0
    (work / "s3").mkdir()
    for key, name in stack.res.buckets.items():
        with (work / "s3" / f"{key}.jsonl").open("w") as out:
            for object_key, versions in _bucket(name).keys.iterlists():
                for version in versions:  # oldest first, as they were written
                    record: dict[str, Any] = {
                        "key": object_key,
                        "version_id": version.version_id,
                        "last_modified": version.last_modified.isoformat(),
                    }
                    if isinstance(version, FakeDeleteMarker):
                        record["delete_marker"] = True
                    else:
                        record["metadata"] = dict(version.metadata)
                        record["body"] = base64.b64encode(version.value).decode()
                    out.write(json.dumps(record) + "\n")
                    written += 1
    return written


def _restore_buckets(stack: LocalStack, directory: Path) -> int:
    from moto.s3.models import FakeDeleteMarker, s3_backends

    assert stack.res is not None
    backend = s3_backends[ACCOUNT]["aws"]
    loaded = 0
    for key, name in stack.res.buckets.items():
        path = directory / "s3" / f"{key}.jsonl"
        if not path.is_file():
            continue
        bucket = _bucket(name)
        with path.open() as lines:
            for line in lines:
                record = json.loads(line)
                when = datetime.fromisoformat(record["last_modified"]).replace(tzinfo=None)  # moto keeps naive UTC
                if record.get("delete_marker"):
                    existing = bucket.keys.getlist(record["key"], [])
                    marker = FakeDeleteMarker(key=existing[-1]) if existing else None
                    if marker is None:
                        continue
                    marker._version_id, marker.last_modified = record["version_id"], when
                    bucket.keys.setlist(record["key"], [*existing, marker])
                else:
                    stored = backend.put_object(name, record["key"], base64.b64decode(record["body"]), disable_notification=True)
                    stored._version_id, stored.last_modified = record["version_id"], when
                    stored.metadata.clear()
                    stored.metadata.update(record["metadata"])
                loaded += 1
    return loaded


# ---------------------------------------------------------------------------- SQS


def _queue_urls(stack: LocalStack) -> dict[str, str]:
    assert stack.res is not None
    queues = {f"queue:{k}": v for k, v in stack.res.queue_urls.items()}
    return queues | {f"dlq:{k}": v for k, v in stack.res.dlq_urls.items()}


def _save_queues(stack: LocalStack, work: Path) -> int:
    from moto.sqs.models import sqs_backends

    assert stack.res is not None
    backend = sqs_backends[ACCOUNT][REGION]
    urls = _queue_urls(stack)
    held: dict[str, list[dict[str, Any]]] = {}
    for key, url in urls.items():
        queue = backend.get_queue(url.rsplit("/", 1)[1])
        messages = [{"body": m.body, "attributes": m.message_attributes or {}} for m in queue._messages]
        if messages:
            held[key] = messages
    (work / "sqs.json").write_text(json.dumps(held))
    return sum(len(m) for m in held.values())


def _restore_queues(stack: LocalStack, directory: Path) -> int:
    assert stack.res is not None
    path = directory / "sqs.json"
    held = json.loads(path.read_text()) if path.is_file() else {}
    urls = _queue_urls(stack)
    sqs = aws.client("sqs")
    for key, messages in held.items():
        for message in messages:
            extra = {"MessageAttributes": message["attributes"]} if message["attributes"] else {}
            sqs.send_message(QueueUrl=urls[key], MessageBody=message["body"], **extra)
    return sum(len(m) for m in held.values())


# ---------------------------------------------------------------------------- journeys


def _parked_journeys(stack: LocalStack) -> list[dict[str, Any]]:
    """Every running journey with the state it parked with (its Park task's payload, read
    from the execution's history as GetExecutionHistory answers it)."""
    assert stack.res is not None
    sfn = aws.client("stepfunctions")
    journeys = []
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.res.state_machine_arn, statusFilter="RUNNING")
    for execution in (e for page in pages for e in page["executions"]):
        events = [
            e
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
            for e in page["events"]
        ]
        scheduled = next(
            (e["taskScheduledEventDetails"] for e in reversed(events) if e["type"] == "TaskScheduled"), None
        )  # the last task asked for: a parked journey's is its Park
        payload = json.loads(scheduled["parameters"]).get("Payload", {}) if scheduled else {}
        if "state" in payload and "token" in payload:
            journeys.append({"name": execution["name"], "state": payload["state"]})
        else:  # still between steps (the drain timed out): it cannot be restarted from a wait
            journeys.append({"name": execution["name"], "state": None})
    return journeys


def _restart_journeys(stack: LocalStack, journeys: list[dict[str, Any]]) -> int:
    from nudgeloop.dal import timers

    assert stack.res is not None
    sfn = aws.client("stepfunctions")
    journeys = [j for j in journeys if j["state"] is not None]
    for journey in journeys:
        timers.forget_execution(journey["name"])  # its token died with the execution
        sfn.start_execution(stateMachineArn=stack.res.state_machine_arn, name=journey["name"], input=json.dumps(journey["state"]))
    return len(journeys)


def describe(directory: Path) -> str:
    """One line for the console: what a saved state holds."""
    meta = json.loads((directory / META).read_text())
    counts = meta.get("counts", {})
    when = clock.parse_iso(meta["now"]).astimezone(UTC)
    return (
        f"state from {directory}: {counts.get('items', 0)} items, {counts.get('objects', 0)} objects, "
        f"{counts.get('journeys', 0)} parked journeys, clock {when:%Y-%m-%d %H:%M} UTC"
    )
