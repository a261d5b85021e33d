"""The pacing settings: read from the environment, validated with the others."""

from __future__ import annotations

import pytest

from mailroute.config.settings import Settings, SettingsError


def test_pacing_defaults_sit_just_under_googles_per_user_quota() -> None:
    settings = Settings.from_env({})
    assert settings.gmail_sends_per_minute == 140
    assert settings.gmail_max_concurrent_sends == 4


def test_pacing_is_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"GMAIL_SENDS_PER_MINUTE": "90.5", "GMAIL_MAX_CONCURRENT_SENDS": "2"}
    )
    assert (settings.gmail_sends_per_minute, settings.gmail_max_concurrent_sends) == (90.5, 2)


def test_pacing_that_could_never_send_is_refused_naming_each_variable() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"GMAIL_SENDS_PER_MINUTE": "0", "GMAIL_MAX_CONCURRENT_SENDS": "0"})
    assert "GMAIL_SENDS_PER_MINUTE: must be positive" in str(refused.value)
    assert "GMAIL_MAX_CONCURRENT_SENDS: must be at least 1" in str(refused.value)
