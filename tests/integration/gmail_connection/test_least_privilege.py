"""Least privilege kept: a grant holding more than mailroute asked for is refused and revoked at
Google, an account switch revokes the old account's grant, and a Revoke Access Google did not
confirm says so (on the page and in the API) while the clock keeps asking until Google does."""

from __future__ import annotations

from typing import Any

import httpx

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of
from tests.stack import Process, running, wait_for

READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def _google(settings: Settings) -> GoogleSandbox:
    return GoogleSandbox(settings.sandbox_base_url)


def _pending(database: Pool, company: TestCompany) -> list[dict[str, Any]]:
    with database.connection() as conn:
        return conn.execute(
            "SELECT id, status, reason, attempts, last_error, token_enc, address"
            " FROM pending_revocations WHERE company_id = %s ORDER BY id",
            (company.id,),
        ).fetchall()


def _connect_with_extra_scopes(browser: Browser, account: str) -> httpx.Response:
    url = browser.authorization_url()
    answer = browser.sandbox.post(
        "/_sandbox/oauth/approve", auth_url=url, account=account, extra_scopes=[READONLY]
    )
    return browser.callback(answer["redirect_url"])


def _grants(google: GoogleSandbox, account: str) -> list[str | None]:
    return [g["dead_reason"] for g in google.account(account)["grants"]]


def test_a_grant_with_more_scopes_than_asked_is_refused_revoked_at_google_and_not_stored(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
    database: Pool,
) -> None:
    page = _connect_with_extra_scopes(browser, google_account)

    with _google(settings) as google:
        asked = google.revocations(google_account)
        issued = google.issued(google_account)
        grants = _grants(google, google_account)
    assert page.status_code == 400
    assert 'data-code="scope_excess"' in page.text
    assert READONLY in page.text
    assert "asked Google to revoke it" in page.text
    assert connections.for_company(company.id) is None
    assert [(a["token"], a["confirmed"]) for a in asked] == [(issued["refresh_tokens"][0], True)]
    assert grants == ["revoked"]
    [row] = _pending(database, company)
    assert (row["status"], row["reason"], row["token_enc"]) == ("confirmed", "refused_grant", None)


def test_an_over_scoped_grant_of_the_connected_account_also_disconnects_it(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
) -> None:
    browser.connect(google_account)

    page = _connect_with_extra_scopes(browser, google_account)

    after = connection_of(connections, company)
    assert page.status_code == 400
    assert "Gmail connection was disconnected too" in page.text
    assert after.state == "disconnected"
    assert connections.tokens(after.id) is None
    with _google(settings) as google:
        assert set(_grants(google, google_account)) == {"revoked"}


def test_switching_accounts_revokes_the_old_accounts_grant_and_keeps_the_new_one(
    browser: Browser,
    google_account: str,
    sandbox: SandboxClient,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
    database: Pool,
    api: httpx.Client,
) -> None:
    other = f"other.{company.tag}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=other)
    browser.connect(google_account)
    old = connections.tokens(connection_of(connections, company).id)

    page = browser.connect(other, switch_account=True)

    assert page.status_code == 200
    assert connection_of(connections, company).address == other
    with _google(settings) as google:
        asked = google.revocations(google_account)
        assert google.revocations(other) == []
        assert _grants(google, google_account) == ["revoked"]
        assert _grants(google, other) == [None]
    assert old is not None
    assert [(a["token"], a["status"]) for a in asked] == [(old.refresh_token, 200)]
    assert [(r["status"], r["reason"], r["address"]) for r in _pending(database, company)] == [
        ("confirmed", "superseded", google_account)
    ]
    assert api.post("/v1/gmail/verify", headers=company.headers()).json()["checked"] is True


def test_re_authorizing_the_same_account_revokes_nothing_since_google_would_end_the_new_grant(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    settings: Settings,
    database: Pool,
    api: httpx.Client,
) -> None:
    browser.connect(google_account)

    browser.connect(google_account)

    with _google(settings) as google:
        assert google.revocations(google_account) == []
    assert _pending(database, company) == []
    verified = api.post("/v1/gmail/verify", headers=company.headers()).json()
    assert (verified["checked"], verified["state"]) == (True, "active")


def test_revoke_access_google_did_not_confirm_says_so_and_the_clock_asks_until_it_does(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
    database: Pool,
    api: httpx.Client,
    stack_env: dict[str, str],
    broker_vhost: str,
) -> None:
    browser.connect(google_account)
    refresh_token = connections.tokens(connection_of(connections, company).id)
    assert refresh_token is not None
    with _google(settings) as google:
        google.add_fault(503, target="revoke", account=google_account, persistent=True)
        try:
            answer = api.post("/v1/gmail/revoke", headers=company.headers())
            [pending] = _pending(database, company)
            _due_now(database, pending["id"])
            env = {**stack_env, "REVOCATION_RETRY_BASE_SECONDS": "0.5"}
            with running(Process("revocation-clock", ["clock"], env), None):
                wait_for(
                    lambda: len(google.revocations(google_account)) >= 3,
                    timeout=20,
                    what="the clock to ask Google again",
                )
                still = _pending(database, company)[0]
                google.clear_faults(google_account)
                wait_for(
                    lambda: _pending(database, company)[0]["status"] == "confirmed",
                    timeout=20,
                    what="Google to confirm",
                )
        finally:
            google.clear_faults(google_account)
        asked = google.revocations(google_account)
        grants = _grants(google, google_account)

    body = answer.json()
    assert answer.status_code == 200
    assert body["state"] == "disconnected"
    assert body["revocation"]["google_confirmed"] is False
    assert body["revocation"]["address"] == google_account
    assert "Google did not confirm the revocation" in body["revocation"]["problem"]
    assert "keeps asking Google until it confirms" in body["revocation"]["problem"]
    assert connections.tokens(connection_of(connections, company).id) is None
    assert pending["token_enc"] is not None
    assert refresh_token.refresh_token.encode() not in bytes(pending["token_enc"])
    assert (pending["status"], pending["attempts"]) == ("pending", 1)
    assert (still["status"], still["last_error"]) == ("pending", "google_unavailable")
    assert [a["status"] for a in asked][-1] == 200
    assert {a["status"] for a in asked[:-1]} == {503}
    assert all(a["token"] == refresh_token.refresh_token for a in asked)
    assert grants == ["revoked"]
    assert _pending(database, company)[0]["token_enc"] is None


def test_the_settings_page_says_when_google_did_not_confirm_revoke_access(
    browser: Browser,
    google_account: str,
    settings: Settings,
    database: Pool,
) -> None:
    browser.login(database)
    browser.connect(google_account)
    with _google(settings) as google:
        google.add_fault(503, target="revoke", account=google_account, persistent=True)
        try:
            done = browser.http.post("/settings/email/revoke", data={"csrf": browser.csrf()})
            page = browser.http.get("/settings/email")
        finally:
            google.clear_faults(google_account)

    assert done.status_code == 303
    assert "Google did not confirm the revocation" in page.text
    assert "keeps asking Google until it confirms" in page.text
    assert 'data-state="disconnected"' in page.text


def test_revoke_access_with_an_unreadable_token_says_so_and_is_asked_once_the_key_is_back(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
    database: Pool,
    api: httpx.Client,
    stack_env: dict[str, str],
    broker_vhost: str,
) -> None:
    browser.connect(google_account)
    record = connection_of(connections, company)
    tokens = connections.tokens(record.id)
    assert tokens is not None
    lost_key = TokenCipher.new_key()
    with database.connection() as conn:  # as if it was encrypted under a key since removed
        conn.execute(
            "UPDATE mailbox_connections SET refresh_token_enc = %s WHERE id = %s",
            (TokenCipher([lost_key]).encrypt(tokens.refresh_token), record.id),
        )

    answer = api.post("/v1/gmail/revoke", headers=company.headers()).json()
    [pending] = _pending(database, company)
    _due_now(database, pending["id"])
    keys = ",".join((*settings.token_encryption_keys, lost_key))
    env = {**stack_env, "TOKEN_ENCRYPTION_KEYS": keys, "REVOCATION_RETRY_BASE_SECONDS": "0.5"}
    with running(Process("revocation-clock-key-back", ["clock"], env), None):
        wait_for(
            lambda: _pending(database, company)[0]["status"] == "confirmed",
            timeout=20,
            what="the clock to revoke once the key is back",
        )

    assert answer["state"] == "disconnected"
    assert answer["revocation"]["google_confirmed"] is False
    assert "The stored token cannot be read" in answer["revocation"]["problem"]
    assert (pending["status"], pending["last_error"]) == ("pending", "token_unreadable")
    with _google(settings) as google:
        asked = google.revocations(google_account)
        assert _grants(google, google_account) == ["revoked"]
    assert [(a["token"], a["status"]) for a in asked] == [(tokens.refresh_token, 200)]


def _due_now(database: Pool, revocation_id: int) -> None:
    """Time passes: the first retry, scheduled by the web app's backoff, is due now."""
    with database.connection() as conn:
        conn.execute(
            "UPDATE pending_revocations SET next_attempt_at = now() WHERE id = %s",
            (revocation_id,),
        )
