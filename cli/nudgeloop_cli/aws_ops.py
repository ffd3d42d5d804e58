"""Operations against a deployed stack (default AWS credentials): dead-letter redrive."""

from __future__ import annotations

import json
from typing import Any

import boto3

from nudgeloop.resources import catalog
from nudgeloop.services import redrive as service
from nudgeloop.specs import QueueSpec


def bind_engine(prefix: str) -> None:
    """Point the data layer at the deployed stack's engine and audit tables (operator commands)."""
    from nudgeloop.config import Settings
    from nudgeloop.dal.models import bind

    cat = catalog(prefix)
    bind(Settings(prefix=prefix, engine_table=cat.table("engine").name, audit_table=cat.table("audit").name))


def redrive(dlq_name: str, prefix: str) -> dict[str, Any]:
    cat = catalog(prefix)
    session = boto3.session.Session()
    region = session.region_name
    sqs = session.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    spec = service.source_of(cat, dlq_name)
    if spec is None:
        raise SystemExit(f"{dlq_name} is not one of the stack's dead-letter queues")
    if isinstance(spec, QueueSpec):
        source_url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
        return service.move_back(sqs, dlq_url, source_url).as_dict()
    lam = session.client("lambda")

    def invoke_async(name: str, event: dict[str, Any]) -> None:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())

    def invoke(function_key: str) -> service.Invoke:
        def call(event: dict[str, Any]) -> dict[str, Any]:
            answer = lam.invoke(FunctionName=cat.function(function_key).name, Payload=json.dumps(event).encode())
            payload = json.loads(answer["Payload"].read() or b"{}")
            if answer.get("FunctionError"):
                return {"errorType": payload.get("errorType", "FunctionError")}
            return payload if isinstance(payload, dict) else {}

        return call

    account = session.client("sts").get_caller_identity()["Account"]
    streams = service.StreamRedrive(
        cat, session.client("dynamodbstreams"), region, invoke, cat.bucket_name("data", account, region)
    )
    return service.invoke_again(sqs, dlq_url, invoke_async, streams).as_dict()
