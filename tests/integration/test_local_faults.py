"""Faults the local runtime injects on purpose (cli/nudgeloop_cli/local/faults.py): a function
crashing, a service throttling a handler's requests; what the stack's own retries make of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import START, get_customer, order, post_events, upsert


@contextmanager
def _stack(faults: str, seed: int = 0) -> Iterator[Any]:
    from nudgeloop_cli.local.runtime import LocalStack

    local = LocalStack(clock_mode="simulated", start=START, api_key="local-dev-key", faults=faults, fault_seed=seed)
    local.start()
    try:
        yield local
    finally:
        local.stop()


def test_a_plan_that_is_not_one_is_refused_saying_what_is_wrong() -> None:
    from nudgeloop_cli.local.base import LocalError
    from nudgeloop_cli.local.faults import Faults

    functions = ("ingest_process", "send")
    for spec, says in [
        ("ingest_process:explode@1", "not TARGET"),
        ("ingest_procss:raise@1", "no function 'ingest_procss'"),
        ("s3:throttle~0.5", "throttling is for"),
        ("send:raise~1.5", "not TARGET"),
        ("send:raise@0", "not TARGET"),
    ]:
        with pytest.raises(LocalError, match=says):
            Faults.parse(spec, functions=functions)
    plan = Faults.parse(" ingest_process:raise@2, dynamodb.PutItem:throttle~0.25 ,", functions=functions)
    assert [str(r) for r in plan.rules] == ["ingest_process:raise@2", "dynamodb.PutItem:throttle~0.25"]


def test_a_seeded_plan_replays_the_same_faults() -> None:
    from nudgeloop_cli.local.faults import Faults

    def run(seed: int) -> list[bool]:
        plan = Faults.parse("dynamodb:throttle~0.3", seed)
        return [plan.throttled("dynamodb", "GetItem") for _ in range(200)]

    assert run(7) == run(7) != run(8)
    assert 30 < sum(run(7)) < 90  # about 0.3 of 200


def test_a_crashed_invocation_is_retried_by_the_stream_mapping_and_nothing_is_lost() -> None:
    with _stack("ingest_process:raise@1") as stack:
        status, body = post_events(stack, [upsert("f1"), order("f1", "o1")])
        assert status == 202 and body["accepted"] == 2
        stack.settle()
        assert stack.faults.injected == {"ingest_process:raise@1": 1}
        assert [f["error"] for f in stack.failures if f["function"] == "ingest_process"] == ["InjectedFault"]
        assert get_customer(stack, "f1")[1]["aggregates"]["orders"] == 1  # the batch came again
        assert stack.dlq_depths()["nudgeloop-ingest-dlq"] == 0


def test_a_throttled_request_is_retried_by_botocore_as_against_aws() -> None:
    # every handler's PutItem is throttled twice in five attempts here: botocore's standard
    # retries (with backoff) get each through; the driver's own writes are never throttled
    with _stack("dynamodb.PutItem:throttle@1,dynamodb.PutItem:throttle@2") as stack:
        status, body = post_events(stack, [upsert("t1")])
        assert status == 202 and body["accepted"] == 1, body
        stack.settle()
        assert stack.faults.injected == {"dynamodb.PutItem:throttle@1": 1, "dynamodb.PutItem:throttle@2": 1}
        assert stack.failures == []
        assert get_customer(stack, "t1")[0] == 200


def test_throttling_that_outlasts_the_retries_is_the_answer_the_caller_sees() -> None:
    with _stack("dynamodb.PutItem:throttle~1") as stack:  # every attempt: the API gives up as on AWS
        status, body = post_events(stack, [upsert("t2")])
        assert status == 503 and "retry" in str(body).lower(), body
        assert stack.faults.injected["dynamodb.PutItem:throttle~1.0"] >= 4  # PynamoDB's client: 3 retries


def test_serve_refuses_a_wrong_plan_before_it_starts() -> None:
    from typer.testing import CliRunner

    from nudgeloop_cli.main import app

    result = CliRunner().invoke(app, ["local", "serve", "--no-keep", "--faults", "ingest_process:raise"])
    assert result.exit_code == 2
    assert "not TARGET:raise|throttle@N" in result.output
