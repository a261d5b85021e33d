"""Check now (a token refresh) shows the truth, and Revoke Access makes Google forget the grant
and leaves no token behind. Every transition publishes GmailConnectionChanged."""

from __future__ import annotations

from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of, revokes

USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"


def _outbox(database: Pool, connection_id: str) -> list[tuple[str, dict[str, Any]]]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT routing_key, payload FROM outbox_events"
            " WHERE payload->>'connection_id' = %s ORDER BY id",
            (connection_id,),
        ).fetchall()
    return [(r["routing_key"], r["payload"]) for r in rows]


def _tokens_left(database: Pool, company: TestCompany) -> tuple[Any, Any]:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT refresh_token_enc, access_token_enc FROM mailbox_connections"
            " WHERE company_id = %s",
            (company.id,),
        ).fetchone()
    assert row is not None
    return row["refresh_token_enc"], row["access_token_enc"]


def test_check_now_on_a_live_connection_keeps_it_active_and_records_the_check(
    browser: Browser, google_account: str, api: Any, company: TestCompany, connections: Any
) -> None:
    browser.connect(google_account)
    before = connection_of(connections, company)

    result = api.post("/v1/gmail/verify", headers=company.headers()).json()

    after = connection_of(connections, company)
    assert result["checked"] is True
    assert result["state"] == "active"
    assert after.last_verified_at is not None
    assert before.last_verified_at is not None
    assert after.last_verified_at > before.last_verified_at


def test_check_now_after_the_user_revoked_in_google_shows_not_connected_with_the_reason(
    browser: Browser,
    google_account: str,
    api: Any,
    company: TestCompany,
    connections: PostgresConnections,
    sandbox: SandboxClient,
    database: Pool,
) -> None:
    browser.connect(google_account)
    record = connection_of(connections, company)
    sandbox.post(f"/_sandbox/accounts/{google_account}/revoke")

    result = api.post("/v1/gmail/verify", headers=company.headers("sender")).json()
    again = api.post("/v1/gmail/verify", headers=company.headers()).json()

    assert result["state"] == "not_connected"
    assert result["reason_code"] == "revoked"
    assert (
        result["reason"]
        == "access was revoked in the Google account (Security > Third-party access)"
    )
    gmail = result["from_options"][0]
    assert (gmail["sender"], gmail["enabled"]) == ("gmail", False)
    assert "revoked" in gmail["reason"]
    assert again["state"] == "not_connected"
    events = _outbox(database, record.id)
    assert [key for key, _ in events] == [
        "connection.changed",
        "connection.auth_broken",
        "connection.changed",
    ]
    broken = events[1][1]
    assert (broken["type"], broken["generation"], broken["reason"]) == (
        "AuthBroken",
        record.generation,
        "revoked",
    )
    assert [p["state"] for k, p in events if k == "connection.changed"] == [
        "active",
        "not_connected",
    ]


def test_check_now_breaks_the_connection_when_the_send_permission_is_gone(
    browser: Browser,
    google_account: str,
    api: Any,
    company: TestCompany,
    sandbox: SandboxClient,
) -> None:
    browser.connect(google_account)
    sandbox.post(
        "/_sandbox/tokens/scopes", scopes=["openid", USERINFO_EMAIL], account=google_account
    )

    result = api.post("/v1/gmail/verify", headers=company.headers()).json()

    assert result["state"] == "not_connected"
    assert result["reason_code"] == "scope_removed"
    assert "permission to send email was removed" in result["reason"]


def test_re_authorizing_a_broken_connection_makes_it_active_again(
    browser: Browser,
    google_account: str,
    api: Any,
    company: TestCompany,
    sandbox: SandboxClient,
    connections: PostgresConnections,
) -> None:
    browser.connect(google_account)
    sandbox.post(f"/_sandbox/accounts/{google_account}/revoke")
    api.post("/v1/gmail/verify", headers=company.headers())
    broken = connection_of(connections, company)

    page = browser.connect(google_account)

    healed = connection_of(connections, company)
    assert broken.state == "not_connected"
    assert page.status_code == 200
    assert healed.state == "active"
    assert healed.generation == broken.generation + 1
    assert healed.broken_reason is None


def test_revoke_calls_google_once_and_leaves_no_token(
    browser: Browser,
    google_account: str,
    api: Any,
    company: TestCompany,
    sandbox: SandboxClient,
    database: Pool,
    connections: PostgresConnections,
) -> None:
    browser.connect(google_account)
    record = connection_of(connections, company)

    first = api.post("/v1/gmail/revoke", headers=company.headers())
    second = api.post("/v1/gmail/revoke", headers=company.headers())

    assert first.status_code == 200
    assert first.json()["state"] == "disconnected"
    assert [o["sender"] for o in first.json()["from_options"]] == ["default"]
    assert second.json()["state"] == "disconnected"
    assert revokes(sandbox, google_account) == 1
    assert _tokens_left(database, company) == (None, None)
    grants = sandbox.get(f"/_sandbox/accounts/{google_account}")["grants"]
    assert all(g["dead_reason"] == "revoked" for g in grants)
    states = [p["state"] for k, p in _outbox(database, record.id) if k == "connection.changed"]
    assert states == ["active", "disconnected"]


def test_revoking_a_broken_connection_deletes_the_tokens_though_google_says_invalid_token(
    browser: Browser,
    google_account: str,
    api: Any,
    company: TestCompany,
    sandbox: SandboxClient,
    database: Pool,
) -> None:
    browser.connect(google_account)
    sandbox.post(f"/_sandbox/accounts/{google_account}/revoke")
    api.post("/v1/gmail/verify", headers=company.headers())

    result = api.post("/v1/gmail/revoke", headers=company.headers()).json()

    assert result["state"] == "disconnected"
    assert _tokens_left(database, company) == (None, None)
