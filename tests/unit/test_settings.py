"""Settings are read once and fail fast, naming every bad variable."""

from __future__ import annotations

import base64
import secrets

import pytest

from mailroute.config.secret_strength import estimated_bits, secret_key_problem
from mailroute.config.settings import DEV_TOKEN_KEY, Settings, SettingsError

STRONG_SECRET_KEY = "Zq3vN8pXw2LrT6yB1mK9sD4fH7jC0gUaE5iO"
KEY_1 = "p8mVd7uQwv0Zr3sJH0XlGm8YqN0G1KcZ3bTjcm3Mqkc="
KEY_2 = "4GQ2Jr9a0Ix7n3VvBq3Uu5c0V9yJtX1m8rZbq8N2pXk="
REAL = {"GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "secret"}


def _refusal(**env: str) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {**REAL, "SECRET_KEY": STRONG_SECRET_KEY, "TOKEN_ENCRYPTION_KEYS": KEY_1, **env}
        )
    return str(refused.value)


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
            "SECRET_KEY": STRONG_SECRET_KEY,
            "TOKEN_ENCRYPTION_KEYS": f"{KEY_1},{KEY_2}",
        }
    )
    assert settings.google_endpoint("token_uri") == "https://oauth2.googleapis.com/token"
    assert settings.token_encryption_keys == (KEY_1, KEY_2)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {"WEB_PORT": "eighty", "DATABASE_URL": "mysql://x", "SMTP_URL": "http://x"}
        )
    message = str(refused.value)
    assert "WEB_PORT: must be an integer" in message
    assert "DATABASE_URL" in message
    assert "SMTP_URL" in message


@pytest.mark.parametrize(
    "secret_key",
    ["a", "k" * 32, "changeme" * 4, "abcdabcdabcdabcdabcdabcdabcdabcd", "short-but-random-9x!Q"],
)
def test_with_real_google_a_short_or_low_entropy_secret_key_is_refused(secret_key: str) -> None:
    message = _refusal(SECRET_KEY=secret_key)

    assert "SECRET_KEY: too weak" in message
    assert "at least 32 random characters" in message
    assert "TOKEN_ENCRYPTION_KEYS" not in message


def test_random_secret_keys_of_32_characters_or_more_always_pass() -> None:
    for _ in range(2000):
        assert secret_key_problem(secrets.token_hex(16)) is None
        assert secret_key_problem(secrets.token_urlsafe(24)) is None
        assert secret_key_problem(secrets.token_urlsafe(32)) is None


@pytest.mark.parametrize(
    "keys",
    [
        "a",
        KEY_1 + ",not-a-key",
        KEY_1[:-1],  # no padding
        base64.urlsafe_b64encode(bytes(range(31))).decode(),  # 31 bytes
        KEY_1.replace("=", "!"),
        base64.b64encode(b"\xfb" * 32).decode(),  # standard, not url-safe, base64
    ],
)
def test_malformed_token_encryption_keys_are_refused_naming_the_key(keys: str) -> None:
    message = _refusal(TOKEN_ENCRYPTION_KEYS=keys)

    assert "TOKEN_ENCRYPTION_KEYS: key" in message
    assert "is not a Fernet key (32 bytes in url-safe base64" in message
    assert "mailroute tokens new-key" in message


def test_malformed_token_keys_are_refused_even_against_the_sandbox() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"TOKEN_ENCRYPTION_KEYS": "a"})

    assert "TOKEN_ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key" in str(refused.value)


@pytest.mark.parametrize(
    "raw", [bytes(32), b"0123456789abcdef0123456789abcdef", b"passwordpasswordpasswordpassword"]
)
def test_with_real_google_a_hand_made_token_key_is_refused(raw: bytes) -> None:
    message = _refusal(TOKEN_ENCRYPTION_KEYS=f"{KEY_1},{base64.urlsafe_b64encode(raw).decode()}")

    assert "TOKEN_ENCRYPTION_KEYS: key 2 of 2 is not random" in message


def test_with_real_google_the_development_token_key_is_refused_anywhere_in_the_list() -> None:
    message = _refusal(TOKEN_ENCRYPTION_KEYS=f"{KEY_1},{DEV_TOKEN_KEY}")

    assert "TOKEN_ENCRYPTION_KEYS: key 2 of 2 is the development key" in message


def test_the_sandbox_accepts_the_development_secrets_and_any_secret_key() -> None:
    assert Settings.from_env({}).uses_sandbox
    assert Settings.from_env({"SECRET_KEY": "a"}).secret_key == "a"


def test_keys_made_by_mailroute_pass_the_token_key_rule() -> None:
    from mailroute.adapters.crypto import TokenCipher

    for _ in range(500):
        key = TokenCipher.new_key()
        assert Settings.from_env(
            {**REAL, "SECRET_KEY": STRONG_SECRET_KEY, "TOKEN_ENCRYPTION_KEYS": key}
        ).token_encryption_keys == (key,)


def test_the_entropy_estimate_is_length_times_the_shannon_entropy_of_the_characters() -> None:
    assert estimated_bits("") == 0
    assert estimated_bits("aaaa") == 0
    assert estimated_bits("abab") == 4
    assert estimated_bits("0123456789abcdef") == 64


def test_every_configured_secret_is_given_to_the_logs_to_blank() -> None:
    settings = Settings.from_env(
        {
            **REAL,
            "SECRET_KEY": STRONG_SECRET_KEY,
            "TOKEN_ENCRYPTION_KEYS": f"{KEY_1},{KEY_2}",
            "DATABASE_URL": "postgresql://mailroute:db-password-1@db/mailroute",
            "RABBITMQ_URL": "amqp://mr:rabbit-password-2@mq/%2F",
        }
    )

    assert set(settings.secret_values()) == {
        STRONG_SECRET_KEY,
        KEY_1,
        KEY_2,
        "db-password-1",
        "rabbit-password-2",
    }


def test_microsoft_defaults_to_the_sandboxs_tls_listener_and_real_credentials_to_microsoft() -> (
    None
):
    sandbox = Settings.from_env({"SANDBOX_MICROSOFT_URL": "https://127.0.0.1:9443"}).microsoft
    assert sandbox.uses_sandbox
    assert sandbox.authority == "https://127.0.0.1:9443/common"
    assert sandbox.graph_url == "https://127.0.0.1:9443/graph/v1.0"
    assert Settings().microsoft == Settings.from_env({}).microsoft

    real = Settings.from_env(
        {"MICROSOFT_CLIENT_ID": "app-id", "MICROSOFT_CLIENT_SECRET": "microsoft-secret-value"}
    )
    assert real.microsoft.authority == "https://login.microsoftonline.com/common"
    assert real.microsoft.graph_url == "https://graph.microsoft.com/v1.0"
    assert "microsoft-secret-value" in real.secret_values()
    assert "microsoft-secret-value" not in repr(real)


def test_bad_microsoft_variables_are_named_with_the_others() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {"MICROSOFT_CLIENT_ID": "app-id", "MICROSOFT_AUTHORITY": "http://login.example/common"}
        )
    assert "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET: set both or neither" in str(
        refused.value
    )
    assert "MICROSOFT_AUTHORITY: must be an https URL" in str(refused.value)
