"""The journey state machine's definition: what Step Functions does on failures and timeouts."""

from __future__ import annotations

from nudgeloop.journey_definition import (
    JOURNEY_FAILED,
    MAX_PARK_S,
    RECOVERABLE,
    RECOVERY_DELAYS_S,
    RECOVERY_TIMEOUT_S,
    definition,
)


def test_every_retrier_backs_off_with_full_jitter_and_a_ceiling() -> None:
    states = definition()["States"]
    retriers = [r for s in states.values() for r in s.get("Retry", [])]
    assert retriers
    for retrier in retriers:
        assert retrier["JitterStrategy"] == "FULL"
        assert 0 < retrier["MaxDelaySeconds"] <= 3600
        assert retrier["BackoffRate"] > 1
    lambda_errors = {e for r in retriers for e in r["ErrorEquals"] if e.startswith("Lambda.")}
    assert {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
    } <= lambda_errors


def test_a_park_that_times_out_goes_back_to_plan_and_never_outlives_a_month() -> None:
    park = definition()["States"]["Park"]
    assert park["TimeoutSecondsPath"] == "$.park_timeout_s" and "TimeoutSeconds" not in park
    timeout, spent = park["Catch"]  # the first catcher that matches applies
    assert timeout == {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Plan"}
    assert spent["ErrorEquals"] == ["States.ALL"] and spent["Next"] == "ParkFailed"
    assert MAX_PARK_S <= 30 * 86400  # far inside a Standard execution's year


def test_plan_gives_every_wait_a_park_timeout_of_the_wait_plus_a_day_at_most_a_month() -> None:
    from datetime import UTC, datetime, timedelta

    from nudgeloop import clock
    from nudgeloop.domain.journey_contract import JourneyState
    from nudgeloop.services.journey import _parked

    now = datetime(2026, 1, 1, tzinfo=UTC)
    previous = clock.use(clock.SimulatedClock(now))
    try:
        short = _parked(JourneyState(action="wait", wait_until=clock.iso(now + timedelta(hours=3))))
        long = _parked(JourneyState(action="wait", wait_until=clock.iso(now + timedelta(days=90))))
        past = _parked(JourneyState(action="wait", wait_until=clock.iso(now - timedelta(hours=1))))
    finally:
        clock.use(previous)
    assert short.park_timeout_s == 3 * 3600 + 86400
    assert long.park_timeout_s == MAX_PARK_S
    assert past.park_timeout_s == 86400


def test_the_send_state_passes_the_send_request_field_by_field() -> None:
    import pytest
    from pydantic import ValidationError

    from nudgeloop.domain.journey_contract import JOURNEY_FIELDS, SendRequest

    payload = definition()["States"]["Send"]["Parameters"]["Payload"]
    assert set(payload) == {f"{name}.$" for name in JOURNEY_FIELDS}
    assert payload["execution.$"] == "$$.Execution.Name"  # the journey's own name: with the step, the ledger key
    assert "confirm_url" not in JOURNEY_FIELDS  # the confirmation mail's alone
    request = SendRequest.model_validate(
        {"customer_id": "c1", "campaign_id": "w", "step_id": "s", "template": "t", "execution": "e", "voucher_prefix": None}
    )
    assert (request.consent_purpose, request.correlation_id) == ("newsletter", None)
    with pytest.raises(ValidationError, match="template"):
        SendRequest.model_validate({"customer_id": "c1", "campaign_id": "w", "step_id": "s", "execution": "e"})


def test_the_journey_state_travels_whole_so_every_path_the_state_machine_reads_exists() -> None:
    """Step Functions fails a path to a missing field ($.park_timeout_s, $.voucher_prefix): the
    state goes out with every field, and a state from an older version still reads."""
    import json
    import re

    from nudgeloop.domain.journey_contract import JourneyState

    wire = JourneyState(campaign_id="w", customer_id="c1").wire()
    text = json.dumps(definition())
    read = set(re.findall(r'"\$\.(\w+)', text)) - {"Payload"}
    assert read and read <= set(wire), read - set(wire)
    assert wire["park_timeout_s"] is None and wire["cursor"] == 0
    old = JourneyState.model_validate({**wire, "retired_field": 1, "cursor": "2"})
    assert old.cursor == 2 and "retired_field" not in old.wire()


def test_a_crashed_plan_or_send_is_tried_again_a_few_times_before_it_cools_down() -> None:
    states = definition()["States"]
    for name in ("Plan", "Send"):
        retriers = states[name]["Retry"]
        crash = retriers[-1]  # after the specific ones: the first retrier that matches applies
        assert crash["ErrorEquals"] == ["States.TaskFailed"] and 1 <= crash["MaxAttempts"] <= 3, name
    assert all("States.TaskFailed" not in r["ErrorEquals"] for r in states["Park"]["Retry"])  # a new token each try


def test_a_task_whose_tries_are_spent_cools_down_a_bounded_number_of_times_then_the_journey_fails() -> None:
    states = definition()["States"]
    for task in RECOVERABLE:
        spent = states[task]["Catch"][-1]
        assert spent == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.fault", "Next": f"{task}Failed"}, task
        assert states[f"{task}Failed"]["Result"] == task and states[f"{task}Failed"]["Next"] == "Recover"
    recover = states["Recover"]
    limit = [c for c in recover["Choices"] if "NumericGreaterThanEquals" in c]
    assert limit == [{"Variable": "$.recovery.n", "NumericGreaterThanEquals": len(RECOVERY_DELAYS_S), "Next": "Failed"}]
    assert recover["Default"] == "CountCooldown" and states["CountCooldown"]["Next"] == "Cooldown"
    assert states["Failed"] == {"Type": "Fail", "Error": JOURNEY_FAILED, "CausePath": "$.fault.Cause"}
    cooldown = states["Cooldown"]
    assert cooldown["Parameters"]["Payload"]["cooldown"] is True and cooldown["TimeoutSeconds"] == RECOVERY_TIMEOUT_S
    assert max(RECOVERY_DELAYS_S) < RECOVERY_TIMEOUT_S
    # a failed cool-down is counted like any other failure, so no path loops without the count
    assert [c["Next"] for c in cooldown["Catch"]] == ["Resume", "Recover"]
    assert {c["Next"] for c in states["Resume"]["Choices"]} | {states["Resume"]["Default"]} == {"Park", "Plan"}


def test_cool_downs_lengthen_and_a_later_one_waits_as_long_as_the_last() -> None:
    from nudgeloop.services.journey import cooldown_s

    delays = [cooldown_s(n) for n in range(1, len(RECOVERY_DELAYS_S) + 2)]
    assert delays[:-1] == list(RECOVERY_DELAYS_S) and delays == sorted(delays) and delays[-1] == RECOVERY_DELAYS_S[-1]
    assert cooldown_s(0) == RECOVERY_DELAYS_S[0]
