"""Sign in with Google over HTTP against the web process and the sandbox: connect, re-authorize,
switch accounts only when asked, and what the API reports."""

from __future__ import annotations

from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from tests.conftest import TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of


def test_signing_in_with_google_connects_the_company_with_the_verified_address(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    page = browser.connect(google_account)

    assert page.status_code == 200
    assert f'Connected as <span id="connected-address">{google_account}</span>' in page.text
    assert "you can close this window" in page.text.lower()
    record = connection_of(connections, company)
    assert record.state == "active"
    assert record.address == google_account
    assert record.generation == 1
    assert record.has_refresh_token
    assert "https://www.googleapis.com/auth/gmail.send" in record.scopes
    assert record.last_verified_at is not None


def test_the_authorization_url_asks_for_send_only_offline_with_consent_and_pkce(
    browser: Browser,
) -> None:
    url = browser.authorization_url()

    assert "scope=openid+email+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.send&" in url
    assert "access_type=offline" in url
    assert "prompt=consent" in url
    assert "code_challenge_method=S256" in url
    assert "code_challenge=" in url
    assert "redirect_uri=" in url
    assert "%2Foauth%2Fgoogle%2Fcallback" in url


def test_email_settings_report_state_address_and_from_options(
    browser: Browser, google_account: str, api: Any, company: TestCompany
) -> None:
    before = api.get("/v1/email-settings", headers=company.headers("sender")).json()
    browser.connect(google_account)
    after = api.get("/v1/email-settings", headers=company.headers("sender")).json()

    assert before["state"] == "disconnected"
    assert [o["sender"] for o in before["from_options"]] == ["default"]
    assert after["state"] == "active"
    assert after["address"] == google_account
    assert after["reason"] is None
    assert after["last_verified_at"] is not None
    gmail, default = after["from_options"]
    assert (gmail["sender"], gmail["address"], gmail["enabled"]) == ("gmail", google_account, True)
    assert (default["sender"], default["enabled"]) == ("default", True)


def test_re_authorizing_the_same_account_raises_the_generation(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    browser.connect(google_account)
    first = connection_of(connections, company)

    page = browser.connect(google_account)

    assert page.status_code == 200
    second = connection_of(connections, company)
    assert second.state == "active"
    assert second.generation == first.generation + 1
    assert second.google_subject == first.google_subject


def test_re_authorizing_with_another_account_is_refused_unless_switching_was_chosen(
    browser: Browser,
    google_account: str,
    connections: PostgresConnections,
    company: TestCompany,
) -> None:
    browser.connect(google_account)
    before = connection_of(connections, company)

    refused = browser.connect("billing@acme-sandbox.test")
    kept = connection_of(connections, company)
    switched_page = browser.connect("billing@acme-sandbox.test", switch_account=True)
    switched = connection_of(connections, company)

    assert refused.status_code == 409
    assert f"is {google_account}, but you signed in as billing@acme-sandbox.test" in refused.text
    assert "Use a different Google account" in refused.text
    assert (kept.address, kept.generation) == (google_account, before.generation)
    assert switched_page.status_code == 200
    assert switched.address == "billing@acme-sandbox.test"
    assert switched.generation == before.generation + 1
