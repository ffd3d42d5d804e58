"""Faults the local runtime injects on purpose (cli/nudgeloop_cli/local/faults.py): a function
crashing, a service throttling a handler's requests; what the stack's own retries make of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import START, consent, get_customer, order, post_events, upsert


@contextmanager
def _stack(faults: str, seed: int = 0, examples: bool = False) -> Iterator[Any]:
    from nudgeloop_cli.local.runtime import LocalStack

    local = LocalStack(
        clock_mode="simulated", start=START, api_key="local-admin-key-for-development", faults=faults, fault_seed=seed
    )
    local.start()
    if examples:
        local.load_examples()
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


def test_each_rule_draws_apart_so_another_rules_traffic_does_not_move_its_faults() -> None:
    from nudgeloop_cli.local.faults import Faults

    def sends(interleaved: int) -> list[bool]:  # send's draws, with other functions' in between
        plan = Faults.parse("send:raise~0.3,ingest_process:raise~0.3", 7)
        drawn = []
        for _ in range(100):
            for _other in range(interleaved):
                with contextlib.suppress(RuntimeError):
                    plan.on_invoke("ingest_process")
            try:
                plan.on_invoke("send")
                drawn.append(False)
            except RuntimeError:
                drawn.append(True)
        return drawn

    assert sends(0) == sends(1) == sends(3)
    assert 10 < sum(sends(0)) < 50


def test_the_throttling_answer_is_a_replacement_moto_as_shipped_can_be_brought_back_from() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    from nudgeloop_cli.local import faults

    with _stack("dynamodb.GetItem:throttle@1"):
        ours = BotocoreStubber.__call__
        with faults.as_shipped():
            assert BotocoreStubber.__call__ is not ours
        assert BotocoreStubber.__call__ is ours


def test_a_crashed_invocation_is_retried_by_the_stream_mapping_and_nothing_is_lost() -> None:
    with _stack("ingest_process:raise@1") as stack:
        status, body = post_events(stack, [upsert("f1"), order("f1", "o1")])
        assert status == 202 and body["accepted"] == 2
        stack.settle()
        assert stack.faults.injected == {"ingest_process:raise@1": 1}
        assert [f["error"] for f in stack.failures if f["function"] == "ingest_process"] == ["InjectedFault"]
        assert get_customer(stack, "f1")[1]["aggregates"]["orders"] == 1  # the batch came again
        assert stack.dlq_depths()["nudgeloop-failures"] == 0


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
    assert "'ingest_process:raise': not TARGET:raise|timeout|duplicate|" in result.output


def test_an_invocation_reported_timed_out_after_its_work_is_retried_without_counting_twice() -> None:
    with _stack("ingest_process:timeout@1") as stack:
        post_events(stack, [upsert("o1"), order("o1", "o1")])
        stack.settle()
        assert stack.faults.injected == {"ingest_process:timeout@1": 1}
        assert [f["error"] for f in stack.failures] == ["Sandbox.Timedout"]  # as Lambda reports it
        assert get_customer(stack, "o1")[1]["aggregates"]["orders"] == 1  # applied twice, counted once


def test_a_crash_after_the_event_was_stored_loses_nothing_and_the_retry_stores_nothing_twice() -> None:
    """The API stored the event, then died before answering: API Gateway answers 502, the shop
    sends the batch again, and the event is applied once."""
    with _stack("ingest_api:crash-after=dynamodb.PutItem@1") as stack:
        status, body = post_events(stack, [order("c1", "o1")])
        assert status == 502, body
        assert stack.faults.injected == {"ingest_api:crash-after=dynamodb.PutItem@1": 1}
        status, body = post_events(stack, [order("c1", "o1")])  # the shop's retry
        assert status == 202 and body["accepted"] == 0, body  # stored already: not again
        stack.settle()
        assert get_customer(stack, "c1")[1]["aggregates"]["orders"] == 1


def test_a_crash_is_not_caught_by_the_handler_it_ends() -> None:
    from nudgeloop_cli.local.faults import Faults, InjectedCrash

    plan = Faults.parse("send:crash-after=sesv2.SendEmail@2")
    plan.after_call("send", "sesv2", "SendEmail")  # the first mail: nothing
    plan.after_call("journey_plan", "sesv2", "SendEmail")  # another function: nothing
    with pytest.raises(InjectedCrash):
        try:
            plan.after_call("send", "sesv2", "SendEmail")
        except Exception:  # what a handler's own handling would catch: not this
            pytest.fail("a crash was caught as an Exception")
    assert plan.injected == {"send:crash-after=sesv2.SendEmail@2": 1}


def test_a_crash_after_ses_accepted_a_mail_never_sends_it_twice() -> None:
    """The send function died after SES took the welcome mail and before the ledger recorded it:
    the journey's retry finds the reservation and sends nothing (the mail is reported in doubt
    for the operator instead)."""
    from datetime import timedelta

    with _stack("send:crash-after=sesv2.SendEmail@1", examples=True) as stack:
        post_events(stack, [upsert("w1"), consent("w1"), order("w1", "o1")])  # the first order: welcome
        stack.settle()
        stack.advance(timedelta(hours=1))
        assert stack.faults.injected == {"send:crash-after=sesv2.SendEmail@1": 1}
        mails = [m for m in stack.outbox() if "w1@" in str(m["to"])]
        assert len(mails) == 1  # the one SES took before the crash, and no second
        assert mails[0]["sent_at"] is None  # the ledger never recorded it: the crash came first
        assert any(f["function"] == "send" and f["error"] == "Runtime.ExitError" for f in stack.failures), stack.failures
        from nudgeloop.dal import ledger

        with stack.aws_lock:  # reported in doubt, for the operator to settle from SES's history
            assert [(e.customer_id, e.key.split("#")[:2]) for e in ledger.in_doubt(stack.clock.now())] == [
                ("w1", ["welcome", "welcome"])
            ]


def test_batches_delivered_twice_change_nothing_twice() -> None:
    """Every stream and queue batch of the consumers that count, move and start journeys comes
    twice: one order counted, one journey, one welcome."""
    from datetime import timedelta

    plan = "ingest_process:duplicate~1,segment_counts:duplicate~1,trigger_start:duplicate~1"
    with _stack(plan, examples=True) as stack:
        post_events(stack, [upsert("d1"), consent("d1"), order("d1", "o1")])
        stack.settle()
        stack.advance(timedelta(hours=1))
        assert {rule: n > 0 for rule, n in stack.faults.injected.items()} == dict.fromkeys(
            plan.replace("~1", "~1.0").split(","), True
        )
        assert stack.failures == []
        assert get_customer(stack, "d1")[1]["aggregates"]["orders"] == 1
        assert [m["step_id"] for m in stack.outbox() if m["customer_id"] == "d1"] == ["welcome"]
        assert sum(stack.journey_statuses().values()) == 1  # the repeated trigger started no second journey


def test_a_batch_with_one_record_reported_failed_is_delivered_again_from_it_and_nothing_counts_twice() -> None:
    """A partial failure (one record of a handled batch reported failed, after its writes): the
    stream mapping delivers the batch again from that record, the queue mapping that message;
    the records delivered twice count one order, start one journey and send one welcome."""
    from datetime import timedelta

    plan = "ingest_process:fail-record@1,trigger_start:fail-record@1"
    with _stack(plan, examples=True) as stack:
        post_events(stack, [upsert("p1"), consent("p1"), order("p1", "o1"), order("p1", "o2", total="5.00")])
        stack.settle()
        stack.advance(timedelta(hours=1))
        assert stack.faults.injected == {"ingest_process:fail-record@1": 1, "trigger_start:fail-record@1": 1}
        partial = [(f["function"], f["error"]) for f in stack.failures]
        assert partial == [("ingest_process", "BatchItemFailure"), ("trigger_start", "BatchItemFailure")]
        aggregates = get_customer(stack, "p1")[1]["aggregates"]
        assert (aggregates["orders"], aggregates["revenue"]) == (2, 30.0)
        assert [m["step_id"] for m in stack.outbox() if m["customer_id"] == "p1"] == ["welcome"]
        assert sum(stack.journey_statuses().values()) == 1
        assert stack.dlq_depths() == dict.fromkeys(stack.dlq_depths(), 0)


def test_put_events_with_every_entry_failed_is_retried_by_the_publisher() -> None:
    from datetime import timedelta

    with _stack("eventbridge.PutEvents:fail-entries@1", examples=True) as stack:
        post_events(stack, [upsert("e1"), consent("e1"), order("e1", "o1")])  # the migration is published
        stack.settle()
        stack.advance(timedelta(hours=1))
        assert stack.faults.injected == {"eventbridge.PutEvents:fail-entries@1": 1}
        assert [m["step_id"] for m in stack.outbox() if m["customer_id"] == "e1"] == ["welcome"]


def test_a_crash_right_after_the_migrating_save_still_publishes_the_migration_once() -> None:
    """The consumer died after the transaction that saved the first order's move and its history
    entry: the retried record finds nothing left to move, and the entry the stream brings back is
    published all the same (with the order that caused it): one welcome, sent once."""
    from datetime import timedelta

    with _stack("ingest_process:crash-after=dynamodb.TransactWriteItems@1", examples=True) as stack:
        post_events(stack, [upsert("m1"), consent("m1"), order("m1", "o1")])
        stack.settle()
        stack.advance(timedelta(hours=1))
        assert stack.faults.injected == {"ingest_process:crash-after=dynamodb.TransactWriteItems@1": 1}
        assert any(f["function"] == "ingest_process" for f in stack.failures)
        assert get_customer(stack, "m1")[1]["segment"] == "new"
        assert [m["step_id"] for m in stack.outbox() if m["customer_id"] == "m1"] == ["welcome"]
        from nudgeloop.dal import event_log

        with stack.aws_lock:
            moves = [e.properties for e in event_log.customer_events("m1") if e.type == "segment.migrated"]
        assert [(m["from"], m["to"], m["correlation_id"]) for m in moves] == [("prospect", "new", "ord-m1-o1")]


def _welcome_execution(stack: Any, customer_id: str) -> dict[str, Any]:
    from nudgeloop.adapters.aws import client

    with stack.aws_lock:
        sfn = client("stepfunctions")
        found = [e for e in stack.watch.executions() if e.name.startswith("welcome")]
        assert len(found) == 1, [e.name for e in found]
        return dict(sfn.describe_execution(executionArn=found[0].execution_arn))


def test_a_send_that_fails_every_try_cools_down_and_the_journey_goes_on() -> None:
    """Send fails on all four of its tries (the first and three retries): the journey is not
    failed but parked for the first cool-down (ten minutes), then planned again, and the welcome
    goes out once."""
    from datetime import timedelta

    from nudgeloop.dal import timers

    with _stack(",".join(["send:raise@1"] * 4), examples=True) as stack:
        post_events(stack, [upsert("w1"), consent("w1"), order("w1", "o1")])
        stack.settle()
        assert stack.faults.injected == {"send:raise@1": 4}
        assert not [m for m in stack.outbox() if "w1@" in str(m["to"])]
        assert _welcome_execution(stack, "w1")["status"] == "RUNNING"
        with stack.aws_lock:
            assert len(list(timers.due_timers(stack.clock.now() + timedelta(minutes=10)))) == 1
            assert not list(timers.due_timers(stack.clock.now() + timedelta(minutes=9)))  # the first cool-down's ten minutes
        stack.advance(timedelta(minutes=15))
        assert len([m for m in stack.outbox() if "w1@" in str(m["to"])]) == 1
        assert stack.journey_statuses()["FAILED"] == 0


def test_a_journey_whose_plan_keeps_failing_fails_after_its_last_cool_down() -> None:
    """Plan fails on every try: four cool-downs (10 min, 1 h, 6 h, 24 h), counted by the state
    machine itself; then the journey fails, with the last error's cause."""
    from datetime import timedelta

    from nudgeloop.journey_definition import JOURNEY_FAILED, RECOVERY_DELAYS_S

    with _stack("journey_plan:raise~1", examples=True) as stack:
        post_events(stack, [upsert("w1"), consent("w1"), order("w1", "o1")])
        stack.settle()
        for delay in RECOVERY_DELAYS_S[:-1]:
            assert _welcome_execution(stack, "w1")["status"] == "RUNNING"
            stack.advance(timedelta(seconds=delay + 60))
        assert _welcome_execution(stack, "w1")["status"] == "RUNNING"  # the last cool-down
        stack.advance(timedelta(seconds=RECOVERY_DELAYS_S[-1] + 60))
        ended = _welcome_execution(stack, "w1")
        assert (ended["status"], ended["error"]) == ("FAILED", JOURNEY_FAILED)
        assert "fault injected" in ended["cause"]
        assert sum(stack.faults.injected.values()) == 4 * (len(RECOVERY_DELAYS_S) + 1)  # four tries a round
