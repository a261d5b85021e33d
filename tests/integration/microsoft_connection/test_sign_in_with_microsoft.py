"""Sign in with Microsoft over HTTP, against the web app and the sandbox's identity platform
(the real msal): the connection becomes active with the ID token's address, and every callback
that is not this sign-in's own answer, in this browser, once, is refused with nothing stored."""

from __future__ import annotations

from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany
from tests.integration.microsoft_connection.conftest import (
    Browser,
    mailbox,
    microsoft_of,
    state_of,
)


def test_signing_in_connects_the_mailbox_and_offers_it_as_a_from_address(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    url = browser.authorize()
    page = browser.callback(browser.microsoft_answers(url, ms_account))
    settings = browser.api("GET", "/v1/email-settings", role="sender").json()

    assert page.status_code == 200, page.text
    assert f'Connected as <span id="connected-address">{ms_account}</span>' in page.text
    assert "Microsoft 365 connected" in page.text
    record = microsoft_of(ms_connections, company)
    assert (record.state, record.address, record.provider) == ("active", ms_account, "microsoft")
    assert record.has_refresh_token
    microsoft = mailbox(settings, "microsoft")
    assert (microsoft["state"], microsoft["address"], microsoft["label"]) == (
        "active",
        ms_account,
        "Microsoft 365",
    )
    assert settings["state"] == "disconnected"  # the top-level fields are Gmail's
    senders = [(o["sender"], o["address"], o["enabled"]) for o in settings["from_options"]]
    assert ("microsoft", ms_account, True) in senders
    assert senders[-1][0] == "default"


def test_the_sign_in_url_is_microsofts_with_pkce_send_only_scopes_and_our_callback(
    browser: Browser,
) -> None:
    url = browser.authorize()

    assert "/common/oauth2/v2.0/authorize?" in url
    assert "code_challenge_method=S256" in url
    assert "Mail.Send" in url
    assert "Mail.Read" not in url
    assert "%2Foauth%2Fmicrosoft%2Fcallback" in url


def test_a_replayed_callback_is_refused(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    redirect = browser.microsoft_answers(browser.authorize(), ms_account)
    first = browser.callback(redirect)
    generation = microsoft_of(ms_connections, company).generation

    again = browser.callback(redirect)

    assert first.status_code == 200
    assert again.status_code == 400
    assert 'data-code="state_replayed"' in again.text
    assert microsoft_of(ms_connections, company).generation == generation


def test_a_callback_in_another_browser_session_is_refused(
    browser: Browser,
    browser_for: Any,
    ms_account: str,
    ms_connections: PostgresConnections,
    company: TestCompany,
) -> None:
    redirect = browser.microsoft_answers(browser.authorize(), ms_account)

    elsewhere = browser_for(company).callback(redirect)

    assert elsewhere.status_code == 403
    assert 'data-code="session_mismatch"' in elsewhere.text
    assert ms_connections.for_company(company.id) is None


def test_a_google_state_is_refused_at_the_microsoft_callback_and_the_other_way(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    google_state = state_of(browser.authorize("gmail"))
    microsoft_redirect = browser.microsoft_answers(browser.authorize(), ms_account)
    microsoft_state = state_of(microsoft_redirect)

    at_microsoft = browser.http.get(
        "/oauth/microsoft/callback", params={"state": google_state, "code": "x"}
    )
    at_google = browser.http.get(
        "/oauth/google/callback", params={"state": microsoft_state, "code": "x"}
    )
    still_good = browser.callback(microsoft_redirect)

    assert (at_microsoft.status_code, at_google.status_code) == (400, 400)
    assert 'data-code="state_invalid"' in at_microsoft.text
    assert 'data-code="state_invalid"' in at_google.text
    assert still_good.status_code == 200  # the refusal used up nothing
    assert microsoft_of(ms_connections, company).state == "active"


def test_a_cancelled_consent_connects_nothing(
    browser: Browser, ms_account: str, ms_connections: PostgresConnections, company: TestCompany
) -> None:
    redirect = browser.microsoft_answers(browser.authorize(), ms_account, action="cancel")

    page = browser.callback(redirect)

    assert page.status_code == 400
    assert 'data-code="access_denied"' in page.text
    assert "Microsoft 365 was not connected" in page.text
    assert ms_connections.for_company(company.id) is None


def test_the_settings_page_shows_the_microsoft_card_in_each_state(
    browser: Browser, ms_account: str, database: Pool
) -> None:
    browser.login(database)
    disconnected = browser.http.get("/settings/email").text
    browser.connect(ms_account)
    active = browser.http.get("/settings/email").text

    assert 'id="ms-btn-sign-in"' in disconnected
    assert '<span class="badge off" id="ms-status-badge">Disconnected</span>' in disconnected
    assert 'id="ms-revocation-note"' in disconnected
    assert '<span class="badge active" id="ms-status-badge">Active</span>' in active
    assert f'<dd id="ms-address">{ms_account}</dd>' in active
    assert '<dialog id="ms-revoke-dialog"' in active
    assert '<option value="microsoft"' in active
    assert 'id="primary-mailbox"' not in active  # only one mailbox is connected
