"""Every refusal of the acceptance list: a clear page or a 4xx, and nothing stored."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from itsdangerous import URLSafeTimedSerializer

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.config.settings import Settings
from mailroute.services.signed_oauth_state import StatePayload, StateSigner
from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of, state_of


def _nothing_stored(connections: PostgresConnections, company: TestCompany) -> None:
    assert connections.for_company(company.id) is None


def _payload(state: str, settings: Settings) -> StatePayload:
    serializer = URLSafeTimedSerializer(settings.secret_key, salt="mailroute.gmail.oauth-state")
    data = serializer.loads(state)
    return StatePayload(data["n"], data["c"], data["b"])


def _with_state(redirect_url: str, state: str) -> str:
    path, _, query = redirect_url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    params.pop("state")
    return (
        path
        + "?"
        + urlencode({"state": state})
        + "&"
        + "&".join(f"{k}={v}" for k, v in params.items())
    )


def test_a_tampered_state_is_refused(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    url = browser.authorization_url()
    redirect = browser.google_answers(url, google_account)
    state = state_of(redirect)
    tampered = state[:5] + ("A" if state[5] != "A" else "B") + state[6:]

    page = browser.callback(_with_state(redirect, tampered))

    assert page.status_code == 400
    assert "was not issued by mailroute or was altered" in page.text
    _nothing_stored(connections, company)


def test_a_state_signed_with_another_key_is_refused(
    browser: Browser,
    google_account: str,
    connections: PostgresConnections,
    company: TestCompany,
    settings: Settings,
) -> None:
    url = browser.authorization_url()
    redirect = browser.google_answers(url, google_account)
    forged = StateSigner("not-our-secret").sign(_payload(state_of(redirect), settings))

    page = browser.callback(_with_state(redirect, forged))

    assert page.status_code == 400
    _nothing_stored(connections, company)


def test_a_replayed_state_is_refused(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    redirect = browser.google_answers(browser.authorization_url(), google_account)
    first = browser.callback(redirect)
    generation = connection_of(connections, company).generation

    again = browser.callback(redirect)

    assert first.status_code == 200
    assert again.status_code == 400
    assert "already used or has expired" in again.text
    assert connection_of(connections, company).generation == generation


def test_an_expired_state_is_refused(
    browser: Browser,
    google_account: str,
    connections: PostgresConnections,
    company: TestCompany,
    settings: Settings,
) -> None:
    redirect = browser.google_answers(browser.authorization_url(), google_account)
    eleven_minutes_ago = StateSigner(settings.secret_key, clock=lambda: time.time() - 11 * 60)
    expired = eleven_minutes_ago.sign(_payload(state_of(redirect), settings))

    page = browser.callback(_with_state(redirect, expired))

    assert page.status_code == 400
    assert "expired" in page.text
    _nothing_stored(connections, company)


def test_company_a_state_completed_in_company_b_session_is_refused(
    browser_for: Any,
    make_company: Any,
    google_account: str,
    connections: PostgresConnections,
    database: Any,
) -> None:
    company_a, company_b = make_company(), make_company()
    browser_a, browser_b = browser_for(company_a), browser_for(company_b)
    browser_a.login(database)
    browser_b.login(database)
    started = browser_a.http.post("/settings/email/connect", data={"csrf": browser_a.csrf()})
    assert started.status_code == 303
    redirect = browser_a.google_answers(started.headers["location"], google_account)

    in_b = browser_b.callback(redirect)

    assert in_b.status_code == 403
    assert "another browser session or for another company" in in_b.text
    _nothing_stored(connections, company_a)
    _nothing_stored(connections, company_b)
    # The state was not burned by the wrong session: its own browser still completes it.
    assert browser_a.callback(redirect).status_code == 200
    assert connection_of(connections, company_a).address == google_account
    _nothing_stored(connections, company_b)


def test_a_callback_without_the_starting_session_is_refused(
    browser: Browser,
    browser_for: Any,
    google_account: str,
    connections: PostgresConnections,
    company: TestCompany,
) -> None:
    redirect = browser.google_answers(browser.authorization_url(), google_account)
    stranger = browser_for(company)

    page = stranger.callback(redirect)

    assert page.status_code == 403
    _nothing_stored(connections, company)


def test_cancelling_on_google_connects_nothing(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    redirect = browser.google_answers(browser.authorization_url(), google_account, action="cancel")

    page = browser.callback(redirect)

    assert "error=access_denied" in redirect
    assert page.status_code == 400
    assert "Google sign-in was cancelled" in page.text
    _nothing_stored(connections, company)


def test_an_unticked_send_permission_stores_nothing_and_says_which_box_to_tick(
    browser: Browser, google_account: str, connections: PostgresConnections, company: TestCompany
) -> None:
    page = browser.connect(google_account, grant_send=False)

    assert page.status_code == 400
    assert "Send email on your behalf" in page.text
    assert "was not ticked" in page.text
    _nothing_stored(connections, company)


def test_an_unverified_google_email_is_refused(
    browser: Browser,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    company: TestCompany,
) -> None:
    account = f"unverified.{company.tag}@example-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account, email_verified=False)

    page = browser.connect(account)

    assert page.status_code == 400
    assert f"Google has not verified the address {account}" in page.text
    _nothing_stored(connections, company)


def test_a_sender_key_can_neither_authorize_nor_revoke(
    browser: Browser, google_account: str, api: Any, company: TestCompany, connections: Any
) -> None:
    browser.connect(google_account)

    authorize = api.post("/v1/gmail/authorize", headers=company.headers("sender"))
    revoke = api.post("/v1/gmail/revoke", headers=company.headers("sender"))

    assert authorize.status_code == 403
    assert authorize.json()["error"]["code"] == "forbidden"
    assert revoke.status_code == 403
    assert connection_of(connections, company).state == "active"


def test_a_key_of_company_a_never_reads_or_changes_company_b(
    browser_for: Any,
    make_company: Any,
    google_account: str,
    api: Any,
    connections: PostgresConnections,
) -> None:
    company_a, company_b = make_company(), make_company()
    browser_for(company_b).connect(google_account)

    seen_by_a = api.get("/v1/email-settings", headers=company_a.headers()).json()
    revoked_by_a = api.post("/v1/gmail/revoke", headers=company_a.headers())
    checked_by_a = api.post("/v1/gmail/verify", headers=company_a.headers())

    assert seen_by_a["state"] == "disconnected"
    assert google_account not in str(seen_by_a)
    assert revoked_by_a.status_code == 200
    assert google_account not in revoked_by_a.text
    assert checked_by_a.json()["checked"] is False
    assert connection_of(connections, company_b).state == "active"
    assert connections.for_company(company_a.id) is None


def test_a_callback_without_state_is_refused(browser: Browser) -> None:
    page = browser.http.get("/oauth/google/callback?code=4/0Afake")

    assert page.status_code == 400
