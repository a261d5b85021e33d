"""Check now and Revoke Access for a Microsoft 365 mailbox, over HTTP against the web app and the
sandbox: a renewal stores the rotated refresh token, a grant Microsoft refuses breaks the
connection with its reason in words and exactly one notice, and Revoke Access deletes every
token and says plainly that Microsoft itself revoked nothing."""

from __future__ import annotations

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.core.connection import explain
from tests.conftest import TestCompany
from tests.integration.microsoft_connection.conftest import Browser, mailbox, microsoft_of


def _notices(database: Pool, connection_id: str) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM auth_broken_notices WHERE connection_id = %s",
            (connection_id,),
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_check_now_renews_the_token_and_stores_the_rotated_refresh_token(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    browser.connect(ms_account)
    record = microsoft_of(ms_connections, company)
    before = ms_connections.tokens(record.id)

    checked = browser.api("POST", "/v1/microsoft/verify", role="sender")

    assert checked.status_code == 200, checked.text
    assert checked.json()["checked"] is True
    assert mailbox(checked.json(), "microsoft")["state"] == "active"
    after = ms_connections.tokens(record.id)
    assert before is not None
    assert after is not None
    assert after.refresh_token != before.refresh_token  # msal's cache, with the new token
    live = [t for t in browser.sandbox.ms_account(ms_account)["refresh_tokens"] if not t["dead"]]
    newest = [t["token"] for t in live if not t["replaced"]]
    assert len(newest) == 1
    assert newest[0] in after.refresh_token


def test_a_grant_revoked_at_microsoft_breaks_the_connection_with_one_notice(
    browser: Browser,
    ms_account: str,
    ms_connections: PostgresConnections,
    company: TestCompany,
    database: Pool,
) -> None:
    browser.connect(ms_account)
    browser.sandbox.ms_invalidate(ms_account, "revoked")

    first = browser.api("POST", "/v1/microsoft/verify")
    second = browser.api("POST", "/v1/microsoft/verify")

    assert first.status_code == 200, first.text
    broken = mailbox(first.json(), "microsoft")
    assert (broken["state"], broken["reason_code"]) == ("not_connected", "revoked")
    assert broken["reason"] == explain("revoked", "microsoft")
    assert broken["broken_at"] is not None
    assert second.json()["checked"] is False
    record = microsoft_of(ms_connections, company)
    assert record.state == "not_connected"
    assert _notices(database, record.id) == 1
    option = next(o for o in first.json()["from_options"] if o["sender"] == "microsoft")
    assert option["enabled"] is False
    assert option["reason"].startswith("Microsoft 365 is not connected: ")


def test_re_authorizing_a_broken_connection_makes_it_active_again(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    browser.connect(ms_account)
    browser.sandbox.ms_invalidate(ms_account, "inactive")
    browser.api("POST", "/v1/microsoft/verify")
    broken = microsoft_of(ms_connections, company)

    page = browser.connect(ms_account)

    assert page.status_code == 200, page.text
    again = microsoft_of(ms_connections, company)
    assert (broken.state, again.state) == ("not_connected", "active")
    assert again.generation == broken.generation + 1


def test_revoking_deletes_the_tokens_and_says_microsoft_revoked_nothing(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    browser.connect(ms_account)
    record = microsoft_of(ms_connections, company)

    revoked = browser.api("POST", "/v1/microsoft/revoke")
    again = browser.api("POST", "/v1/microsoft/revoke")

    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert mailbox(body, "microsoft")["state"] == "disconnected"
    assert [o["sender"] for o in body["from_options"]] == ["default"]
    revocation = body["revocation"]
    assert revocation["address"] == ms_account
    assert revocation["revoked_at_microsoft"] is False
    assert "no way to withdraw their own permission" in revocation["explanation"]
    assert revocation["remove_app_work_or_school"] == "https://myapps.microsoft.com"
    assert revocation["remove_app_personal"] == "https://account.live.com/consent/Manage"
    sign_out = revocation["sign_out_url"]
    assert sign_out.startswith(browser.microsoft_url + "/common/oauth2/v2.0/logout?")
    assert "post_logout_redirect_uri=" in sign_out
    assert again.json()["revocation"] is None
    after = microsoft_of(ms_connections, company)
    assert (after.state, after.has_refresh_token) == ("disconnected", False)
    assert ms_connections.tokens(record.id) is None


def test_a_sender_key_may_check_but_not_revoke_or_sign_in(
    browser: Browser, ms_account: str
) -> None:
    browser.connect(ms_account)

    assert browser.api("POST", "/v1/microsoft/revoke", role="sender").status_code == 403
    assert browser.api("POST", "/v1/microsoft/authorize", role="sender").status_code == 403
    assert browser.api("POST", "/v1/microsoft/verify", role="sender").status_code == 200
