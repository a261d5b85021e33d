"""Token keys (TOKEN_ENCRYPTION_KEYS), through the real CLI, worker and web app:

- a key removed before `mailroute tokens reencrypt` ran makes the Gmail connection
  `not_connected` with a reason saying the stored token cannot be read, through the one break
  path (one notice to the admins), and its Gmail sends fail `gmail_not_connected`: never stuck
  `sending`, never sent from the default address instead;
- `mailroute tokens reencrypt` rewrites every encrypted column under the newest key, so the old
  key can go and a real send still works.

Each test has a database and vhost of its own (`tests.private_stack`): its keys are not the
session's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.oauth_states import PostgresOAuthStates
from mailroute.adapters.db.pending_revocations import PostgresPendingRevocations
from mailroute.adapters.db.webhook_endpoints import PostgresWebhookEndpoints
from mailroute.config.settings import Settings
from mailroute.core.connection import explain
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany
from tests.private_stack import PrivateStack, private_stack
from tests.settled import broker_idle
from tests.stack import MAILROUTE, wait_for

UNREADABLE = "token_unreadable"


@pytest.fixture
def stack(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[PrivateStack]:
    with private_stack(stack_env) as private:
        yield private


@pytest.fixture
def google(settings: Settings, sandbox: SandboxClient) -> Iterator[GoogleSandbox]:
    with GoogleSandbox(settings.sandbox_base_url) as client:
        yield client


def _cli(stack: PrivateStack, *args: str, keys: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, *args],
        env={**stack.env, "TOKEN_ENCRYPTION_KEYS": keys},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _new_key(stack: PrivateStack) -> str:
    made = _cli(stack, "tokens", "new-key", keys=_old_keys(stack))
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _old_keys(stack: PrivateStack) -> str:
    return ",".join(stack.settings.token_encryption_keys)


def _connection(stack: PrivateStack, company: TestCompany) -> dict[str, object]:
    with stack.pool.connection() as conn:
        row = conn.execute(
            "SELECT state, broken_reason FROM mailbox_connections WHERE company_id = %s",
            (company.id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def _notices(sandbox: SandboxClient, company: TestCompany) -> list[dict[str, object]]:
    return sandbox.smtp_messages(rcpt=company.admin_email)


def _one_notice_after_settling(
    stack: PrivateStack, sandbox: SandboxClient, company: TestCompany
) -> dict[str, object]:
    wait_for(lambda: _notices(sandbox, company), timeout=30, what="the admins' notice")
    wait_for(lambda: broker_idle(stack.vhost), timeout=30, what="nothing more to do")
    [notice] = _notices(sandbox, company)
    return notice


def test_a_removed_key_breaks_the_connection_once_and_its_gmail_sends_fail(
    stack: PrivateStack, google: GoogleSandbox, sandbox: SandboxClient
) -> None:
    company = stack.company()
    account = stack.connect_gmail(company, google)  # its tokens under the old key
    new_key = _new_key(stack)
    # The old key is dropped from every process, and `tokens reencrypt` never ran.
    stack.worker(TOKEN_ENCRYPTION_KEYS=new_key)
    api = stack.web(TOKEN_ENCRYPTION_KEYS=new_key)
    ids = []
    for n in range(3):
        sent = _cli(
            stack,
            "send",
            "--company",
            company.id,
            "--to",
            company.rcpt(),
            "--subject",
            f"Invoice {n}",
            "--text",
            "Hello",
            "--sender",
            "gmail",
            keys=new_key,
        )
        assert sent.returncode == 0, sent.stderr
        ids.append(sent.stdout.split('"id": "', 1)[1].split('"', 1)[0])

    for email_id in ids:
        body = wait_for(
            lambda e=email_id: (
                (b := api.get(f"/v1/emails/{e}", headers=company.headers()).json())["status"]
                in ("sent", "failed")
                and b
            ),
            timeout=30,
            what=f"email {email_id} to end",
        )
        # The first sends fail as they find the token unreadable, later ones as they are routed.
        assert (body["status"], body["error"]["code"]) == ("failed", "gmail_not_connected"), body
        assert account in body["error"]["message"]
    assert _connection(stack, company) == {"state": "not_connected", "broken_reason": UNREADABLE}
    page = api.get("/v1/email-settings", headers=company.headers()).json()
    assert (page["state"], page["reason_code"]) == ("not_connected", UNREADABLE)
    assert page["reason"] == explain(UNREADABLE)
    notice = _one_notice_after_settling(stack, sandbox, company)
    assert account in str(notice["subject"])
    assert explain(UNREADABLE) in str(notice["text"])
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []  # no silent switch of sender
    assert google.gmail_sent(account) == []


def test_check_now_on_a_token_no_key_reads_breaks_the_connection_with_that_reason(
    stack: PrivateStack, google: GoogleSandbox, sandbox: SandboxClient
) -> None:
    company = stack.company()
    stack.connect_gmail(company, google)
    new_key = _new_key(stack)
    stack.worker(TOKEN_ENCRYPTION_KEYS=new_key)  # delivers the notice
    api = stack.web(TOKEN_ENCRYPTION_KEYS=new_key)

    checked = api.post("/v1/gmail/verify", headers=company.headers())

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["state"], body["reason_code"], body["reason"]) == (
        "not_connected",
        UNREADABLE,
        explain(UNREADABLE),
    )
    again = api.post("/v1/gmail/verify", headers=company.headers()).json()
    assert again["state"] == "not_connected"
    _one_notice_after_settling(stack, sandbox, company)


def _encrypted_columns(stack: PrivateStack) -> list[tuple[str, str]]:
    """Every column of the schema that holds something encrypted (`…_enc`)."""
    with stack.pool.connection() as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'bytea'"
            " AND column_name LIKE '%\\_enc' ORDER BY 1, 2"
        ).fetchall()
    return [(r["table_name"], r["column_name"]) for r in rows]


def _values(stack: PrivateStack, table: str, column: str) -> list[bytes]:
    with stack.pool.connection() as conn:
        rows = conn.execute(
            f'SELECT "{column}" AS v FROM "{table}" WHERE "{column}" IS NOT NULL'  # noqa: S608
        ).fetchall()
    return [bytes(r["v"]) for r in rows]


def test_reencrypt_rewrites_every_encrypted_column_so_the_old_key_can_go(
    stack: PrivateStack, google: GoogleSandbox, sandbox: SandboxClient
) -> None:
    old = TokenCipher(stack.settings.token_encryption_keys)
    company = stack.company()
    account = stack.connect_gmail(company, google)
    states = PostgresOAuthStates(stack.pool, old)
    for nonce in ("pending-sign-in", "finished-sign-in"):
        states.save(
            nonce,
            company_id=company.id,
            user_id=None,
            session_hash="session",
            code_verifier=f"verifier-of-{nonce}",
            switch_account=False,
            ttl=timedelta(minutes=10),
        )
    assert states.consume("finished-sign-in", company.id) is not None
    PostgresPendingRevocations(stack.pool, old).queue(
        "a-grant-google-must-forget",
        company_id=company.id,
        google_subject="subject-1",
        address="old@acme-sandbox.test",
        reason="revoke_access",
    )
    endpoints = PostgresWebhookEndpoints(stack.pool, old)
    endpoint = endpoints.add(
        company.id,
        url="https://billing.example/hooks",
        event_types=["email.*"],
        description="",
        secret="whsec_" + "A" * 43 + "=",
    )
    assert endpoint is not None
    endpoints.rotate_secret(
        company.id, endpoint.id, secret="whsec_" + "B" * 43 + "=", overlap=timedelta(hours=1)
    )
    columns = _encrypted_columns(stack)
    assert ("webhook_endpoints", "previous_secret_enc") in columns
    assert {c for c in columns if not _values(stack, *c)} == set(), "each column has a value"
    new_key = _new_key(stack)

    done = _cli(stack, "tokens", "reencrypt", keys=f"{new_key},{_old_keys(stack)}")

    assert done.returncode == 0, done.stderr
    assert "re-encrypted the tokens of 1 connection(s)" in done.stdout
    assert "the signing secrets of 1 webhook endpoint(s)" in done.stdout
    new_only = TokenCipher([new_key])
    for table, column in columns:
        for value in _values(stack, table, column):
            new_only.decrypt(value)  # raises if any value is still under the old key
    pending = PostgresOAuthStates(stack.pool, new_only).consume("pending-sign-in", company.id)
    assert pending is not None
    assert pending.code_verifier == "verifier-of-pending-sign-in"
    with stack.pool.connection() as conn:
        left = conn.execute("SELECT nonce FROM oauth_states ORDER BY nonce").fetchall()
    assert [r["nonce"] for r in left] == ["pending-sign-in"]  # the finished one is gone

    # The old key goes; a real send through Gmail still works.
    stack.worker(TOKEN_ENCRYPTION_KEYS=new_key)
    email_id = stack.send(company, sender="gmail")
    row = wait_for(
        lambda: (r := stack.email_row(email_id)) and r["status"] in ("sent", "failed") and r,
        timeout=30,
        what="the send under the new key",
    )
    assert (row["status"], row["route"]) == ("sent", "gmail"), row["error_message"]
    assert len(google.gmail_sent(account)) == 1
    assert _connection(stack, company)["state"] == "active"


def _connection_id(stack: PrivateStack, company: TestCompany) -> str:
    with stack.pool.connection() as conn:
        row = conn.execute(
            "SELECT id FROM mailbox_connections WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert row is not None
    return str(row["id"])


def test_reencrypt_names_a_connection_no_configured_key_reads_and_rotates_the_rest(
    stack: PrivateStack, google: GoogleSandbox, sandbox: SandboxClient
) -> None:
    lost, kept = stack.company(), stack.company()
    new_key, other_key = _new_key(stack), _new_key(stack)
    stack.connect_gmail(lost, google)  # under the stack's key, which is then lost
    stack.connect_gmail(kept, google, keys=(other_key,))  # under a key that stays
    lost_id, kept_id = (_connection_id(stack, c) for c in (lost, kept))

    done = _cli(stack, "tokens", "reencrypt", keys=f"{new_key},{other_key}")

    assert done.returncode == 1
    assert f"connection {lost_id} (company {lost.id})" in done.stderr
    assert kept_id not in done.stderr
    assert "add the old key back" in done.stderr
    with stack.pool.connection() as conn:
        kept_tokens = conn.execute(
            "SELECT refresh_token_enc FROM mailbox_connections WHERE id = %s", (kept_id,)
        ).fetchone()
    assert kept_tokens is not None
    TokenCipher([new_key]).decrypt(bytes(kept_tokens["refresh_token_enc"]))
