"""Settings are read once and fail fast, naming every bad variable."""

from __future__ import annotations

import pytest

from mailroute.config.settings import Settings, SettingsError


def test_defaults_serve_a_local_run_against_the_sandbox() -> None:
    settings = Settings.from_env({})
    assert settings.uses_sandbox
    assert settings.google_endpoint("token_uri") == "http://127.0.0.1:8090/token"


def test_real_google_credentials_point_at_google_and_require_real_secrets() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret"})
    assert "SECRET_KEY" in str(refused.value)
    assert "TOKEN_ENCRYPTION_KEYS" in str(refused.value)
    settings = Settings.from_env(
        {
            "GOOGLE_CLIENT_ID": "id",
            "GOOGLE_CLIENT_SECRET": "s",
            "SECRET_KEY": "k" * 32,
            "TOKEN_ENCRYPTION_KEYS": "a,b",
        }
    )
    assert settings.google_endpoint("token_uri") == "https://oauth2.googleapis.com/token"
    assert settings.token_encryption_keys == ("a", "b")


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {"WEB_PORT": "eighty", "DATABASE_URL": "mysql://x", "SMTP_URL": "http://x"}
        )
    message = str(refused.value)
    assert "WEB_PORT: must be an integer" in message
    assert "DATABASE_URL" in message
    assert "SMTP_URL" in message
