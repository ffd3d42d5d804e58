"""The tunable settings, declared once (nudgeloop/config.py): defaults, validation that names the
setting, and the same environment for the stack and the local runtime."""

from __future__ import annotations

import pytest

from nudgeloop.config import DAYTIME, TUNABLES, InvalidSetting, Settings, declared_defaults, describe_tunables, tunable_values


def test_every_tunable_has_its_default_and_a_meaning() -> None:
    values = tunable_values({})
    assert set(values) == set(TUNABLES)
    assert values["frequency_cap"] == "3/7" and values["max_send_rate"] == "14" and values["attribution_days"] == "7"
    assert all(row["meaning"] for row in describe_tunables())
    assert {row["name"] for row in describe_tunables()} == set(TUNABLES)


def test_given_values_replace_defaults_and_json_may_be_given_as_objects() -> None:
    values = tunable_values({"attribution_days": 30, "staircase": {"new_days": 60}, "send_window": None})
    assert values["attribution_days"] == "30"
    assert values["staircase"] == '{"new_days": 60}'
    assert values["send_window"] == DAYTIME  # None: not given, so the default: daytime
    assert tunable_values({"send_window": ""})["send_window"] == ""  # any time, when a stack says so


def test_marketing_mail_waits_for_the_customers_daytime_by_default() -> None:
    """No mail at 03:00 unless a stack asks for it: the default window is 08:00-21:00 local."""
    from datetime import UTC, datetime

    from nudgeloop.config import Settings

    window = Settings().window()
    assert window is not None
    night = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
    assert window.next_slot(night, "Europe/Berlin", "DE") == datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert window.next_slot(night, "America/New_York", "US") == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 22:00 there
    assert window.next_slot(night, "Asia/Tokyo", "JP") == night  # noon in Tokyo: at once


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"attribution_days": "0"}, "attribution_days"),
        ({"attribution_days": "91"}, "attribution_days"),
        ({"frequency_cap": "3"}, "frequency_cap"),
        ({"frequency_cap": "3/0"}, "frequency_cap"),
        ({"max_send_rate": "-1"}, "max_send_rate"),
        ({"reputation_min_sends": "0"}, "reputation_min_sends"),
        ({"staircase": '{"steps": [{"name": "only", "when": {"no_orders": true}}]}'}, "staircase"),
        ({"send_window": '{"days": ["Funday"]}'}, "send_window"),
    ],
)
def test_a_refused_value_names_its_setting(given: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidSetting, match=f"setting {named}"):
        tunable_values(given)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="not a tunable setting: frequency_caps"):
        tunable_values({"frequency_caps": "3/7"})


def test_the_frequency_cap_reads_as_mails_and_days_or_off() -> None:
    assert Settings(frequency_cap="3/7").frequency_cap_limit() == (3, 7)
    assert Settings(frequency_cap="0/7").frequency_cap_limit() is None


def test_internal_defaults_reach_the_environment_from_the_declaration() -> None:
    defaults = declared_defaults()
    assert defaults["max_future_skew_s"] == "3600" and defaults["rescan_segments"] == "8"
    assert "customers_table" not in defaults  # a resource name: the stack gives it


def test_a_cold_start_requires_what_the_catalog_passes_its_function_and_nothing_else(monkeypatch) -> None:
    """Each handler's needs come from its catalog entry (no list of its own): the function Lambda
    runs is named by AWS_LAMBDA_FUNCTION_NAME."""
    import os

    from nudgeloop.config import ENV_PREFIX, settings
    from nudgeloop.dal.models import bind
    from nudgeloop.resources import catalog
    from nudgeloop.runtime import boot, needs

    def cold_start():
        settings.cache_clear()
        return boot()

    send = catalog("nudgeloop").function("send")
    assert "templates_bucket" in needs(send) and "frequency_cap" not in needs(send)  # tunables have defaults
    try:
        for var in list(os.environ):
            if var.startswith(ENV_PREFIX):
                monkeypatch.delenv(var)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", send.name)
        with pytest.raises(RuntimeError, match=f"{ENV_PREFIX}TEMPLATES_BUCKET"):
            cold_start()
        for name in needs(send):
            monkeypatch.setenv(f"{ENV_PREFIX}{name.upper()}", "x")
        assert cold_start().templates_bucket == "x"
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "someone-else")
        with pytest.raises(RuntimeError, match="not a function of the nudgeloop stack"):
            cold_start()
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        bind(settings())
