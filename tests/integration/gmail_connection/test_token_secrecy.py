"""Tokens are encrypted at rest and never logged; keys rotate with `mailroute tokens`."""

from __future__ import annotations

import subprocess

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from tests.conftest import TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of, state_of
from tests.stack import LOG_DIR, MAILROUTE


def test_no_plaintext_token_or_code_in_a_database_dump_or_the_logs(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
) -> None:
    url = browser.authorization_url()
    redirect = browser.google_answers(url, google_account)
    assert browser.callback(redirect).status_code == 200
    record = connection_of(connections, company)
    tokens = connections.tokens(record.id)
    assert tokens is not None
    assert tokens.access_token is not None
    code = redirect.split("code=", 1)[1].split("&", 1)[0]
    secrets = [tokens.refresh_token, tokens.access_token]

    dump = subprocess.run(
        ["pg_dump", "--data-only", settings.database_url],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode(errors="replace")
    logs = "".join(p.read_text(errors="replace") for p in sorted(LOG_DIR.glob("*.log")))

    assert company.id in dump  # the dump holds this company's rows
    for secret in secrets:
        assert secret not in dump
        assert secret not in logs
    assert code not in logs
    assert state_of(redirect) not in logs


def test_rotating_the_key_re_encrypts_every_token_under_the_newest_key(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    stack_env: dict[str, str],
    settings: Settings,
    database: Pool,
) -> None:
    browser.connect(google_account)
    record = connection_of(connections, company)
    before = connections.tokens(record.id)
    old_keys = ",".join(settings.token_encryption_keys)
    new_key = subprocess.run(
        [MAILROUTE, "tokens", "new-key"], env=stack_env, capture_output=True, check=True, text=True
    ).stdout.strip()

    def reencrypt(keys: str) -> str:
        env = {**stack_env, "TOKEN_ENCRYPTION_KEYS": keys}
        done = subprocess.run(
            [MAILROUTE, "tokens", "reencrypt"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        said = reencrypt(f"{new_key},{old_keys}")
        under_new_key = PostgresConnections(database, TokenCipher([new_key])).tokens(record.id)
    finally:
        reencrypt(f"{old_keys},{new_key}")  # put the shared test database back under the old key

    assert "re-encrypted the tokens of" in said
    assert under_new_key is not None
    assert before is not None
    assert under_new_key.refresh_token == before.refresh_token
    assert under_new_key.access_token == before.access_token
    assert connections.tokens(record.id) is not None
