"""With real Google credentials, a process refuses to start on weak or malformed secrets, and
says which variable and why."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from mailroute.adapters.crypto import TokenCipher
from tests.stack import MAILROUTE

REAL_GOOGLE = {
    "GOOGLE_CLIENT_ID": "1234567890-abc.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "GOCSPX-not-a-real-secret-000000",
}


def _start(
    command: list[str], stack_env: dict[str, str], **env: str
) -> subprocess.CompletedProcess[str]:
    good = {"SECRET_KEY": secrets.token_urlsafe(32), "TOKEN_ENCRYPTION_KEYS": TokenCipher.new_key()}
    return subprocess.run(
        [MAILROUTE, *command],
        env={**stack_env, **REAL_GOOGLE, **good, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["web"], ["worker"], ["clock"]])
def test_a_one_character_secret_key_stops_every_process_naming_the_variable(
    stack_env: dict[str, str], command: list[str]
) -> None:
    started = _start(command, stack_env, SECRET_KEY="a")

    assert started.returncode != 0
    assert "SECRET_KEY: too weak (1 character" in started.stderr
    assert "at least 32 random characters" in started.stderr


def test_a_long_but_repetitive_secret_key_is_refused(stack_env: dict[str, str]) -> None:
    started = _start(["web"], stack_env, SECRET_KEY="changeme" * 4)

    assert started.returncode != 0
    assert "SECRET_KEY: too weak (32 characters" in started.stderr


def test_malformed_token_encryption_keys_stop_the_process_naming_the_key(
    stack_env: dict[str, str],
) -> None:
    keys = f"{TokenCipher.new_key()},not-a-fernet-key"

    started = _start(["web"], stack_env, TOKEN_ENCRYPTION_KEYS=keys)

    assert started.returncode != 0
    assert "TOKEN_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key" in started.stderr
    assert "SECRET_KEY" not in started.stderr


def test_every_weak_secret_is_named_at_once(stack_env: dict[str, str]) -> None:
    started = _start(["web"], stack_env, SECRET_KEY="a", TOKEN_ENCRYPTION_KEYS="x")

    assert started.returncode != 0
    assert "SECRET_KEY: too weak" in started.stderr
    assert "TOKEN_ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key" in started.stderr


def test_strong_secrets_with_real_google_credentials_are_accepted(
    stack_env: dict[str, str],
) -> None:
    started = _start(["tokens", "new-key"], stack_env)

    assert started.returncode == 0, started.stderr
    assert len(started.stdout.strip()) == 44
