"""The Email settings page over plain HTTP: the one-time login, CSRF, and the send form."""

from __future__ import annotations

import subprocess
from typing import Any
from urllib.parse import urlsplit

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany, wait_for
from tests.integration.gmail_connection.conftest import _CSRF, Browser, connection_of
from tests.stack import MAILROUTE


def test_a_login_link_from_the_cli_shows_a_confirm_page_and_its_post_signs_the_admin_in_once(
    browser: Browser, company: TestCompany, stack_env: dict[str, str], web: str
) -> None:
    printed = subprocess.run(
        [MAILROUTE, "login-link", "--company", company.id],
        env=stack_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = urlsplit(printed).path

    previewed = browser.http.get(path)
    opened = browser.http.get(path)
    before = browser.http.get("/settings/email")
    csrf = _CSRF.search(opened.text)
    assert csrf is not None
    first = browser.http.post(path, data={"csrf": csrf.group(1)})
    page = browser.http.get("/settings/email")
    second = browser.http.post(path, data={"csrf": browser.csrf()})

    assert printed.startswith(f"{web}/login/")
    assert previewed.status_code == 200
    assert opened.status_code == 200
    assert f'<strong id="login-admin">{company.admin_email}</strong>' in opened.text
    assert f'action="{path}"' in opened.text
    assert before.status_code == 401
    assert first.status_code == 303
    assert first.headers["location"] == "/settings/email"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert page.status_code == 200
    assert 'Settings</span><span class="sep">&rsaquo;</span><span>Company' in page.text
    assert company.admin_email in page.text
    assert second.status_code == 400
    assert browser.http.get(path).status_code == 400


def test_a_login_link_for_an_unknown_company_is_refused(stack_env: dict[str, str]) -> None:
    done = subprocess.run(
        [MAILROUTE, "login-link", "--company", "00000000-0000-4000-8000-000000000000"],
        env=stack_env,
        capture_output=True,
        text=True,
    )

    assert done.returncode != 0
    assert "unknown or has no admin user" in done.stderr


def test_the_settings_page_needs_a_login(api: Any) -> None:
    page = api.get("/settings/email")

    assert page.status_code == 401
    assert "mailroute login-link" in page.text


def test_a_form_without_the_csrf_token_changes_nothing(
    browser: Browser,
    google_account: str,
    database: Pool,
    connections: PostgresConnections,
    company: TestCompany,
) -> None:
    browser.connect(google_account)
    browser.login(database)

    forged = browser.http.post("/settings/email/revoke", data={"csrf": "guess"})
    missing = browser.http.post("/settings/email/connect")

    assert forged.status_code == 403
    assert missing.status_code == 403
    assert connection_of(connections, company).state == "active"


def test_the_page_shows_each_state_with_its_buttons(
    browser: Browser, google_account: str, database: Pool, sandbox: Any, api: Any
) -> None:
    browser.login(database)
    disconnected = browser.http.get("/settings/email").text
    browser.connect(google_account)
    active = browser.http.get("/settings/email").text
    sandbox.post(f"/_sandbox/accounts/{google_account}/revoke")
    api.post("/v1/gmail/verify", headers=browser.company.headers())
    broken = browser.http.get("/settings/email").text

    assert 'id="btn-sign-in"' in disconnected
    assert 'id="btn-revoke"' not in disconnected
    assert '<span class="badge active" id="status-badge">Active</span>' in active
    assert f'<dd id="gmail-address">{google_account}</dd>' in active
    assert 'id="btn-revoke"' in active
    assert 'id="btn-reauthorize"' not in active
    assert '<dialog id="revoke-dialog"' in active
    assert '<span class="badge broken" id="status-badge">Not connected</span>' in broken
    assert "access was revoked in the Google account" in broken
    assert 'id="btn-reauthorize"' in broken
    assert 'id="btn-revoke"' in broken
    assert '<option value="gmail" disabled>' in broken


def test_the_send_form_goes_through_the_intake_and_lists_the_email(
    browser: Browser, database: Pool, company: TestCompany, worker: Any
) -> None:
    browser.login(database)
    csrf = browser.csrf()

    sent = browser.http.post(
        "/settings/email/send",
        data={
            "csrf": csrf,
            "to": company.rcpt(),
            "subject": "Invoice 2026-0099",
            "message": "Hello, your invoice is attached.",
            "sender": "default",
        },
    )

    assert sent.status_code == 303
    page = wait_for(
        lambda: (
            (t := browser.http.get("/settings/email").text)
            and "Invoice 2026-0099" in t
            and 'data-status="sent"' in t
            and t
        ),
        timeout=20,
        what="the email to be listed as sent",
    )
    assert company.rcpt() in page


def test_the_send_form_refuses_gmail_when_it_is_not_connected(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)

    sent = browser.http.post(
        "/settings/email/send",
        data={
            "csrf": browser.csrf(),
            "to": company.rcpt(),
            "subject": "Invoice",
            "message": "Hello",
            "sender": "gmail",
        },
    )
    page = browser.http.get("/settings/email").text

    assert sent.status_code == 303
    assert "Gmail is not connected" in page
    assert "Invoice" not in page.split('id="emails-table"', 1)[1]
