"""The Email settings page in real headless Chromium: the whole life of a Gmail connection, as
an admin lives it, with a screenshot of each state in docs/screenshots/."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from tests.conftest import SandboxClient, TestCompany
from tests.stack import MAILROUTE

pytestmark = pytest.mark.browser


def _login_link(company: TestCompany, stack_env: dict[str, str]) -> str:
    return subprocess.run(
        [MAILROUTE, "login-link", "--company", company.id],
        env=stack_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _account_radio(email: str) -> str:
    return "#account-" + "".join(c if c.isalnum() else "-" for c in email.lower())


def _sign_in_with_google(
    page: Page, button: str, account: str, screenshot: Path | None = None
) -> None:
    """Click `button`, pick `account` in the Google popup, Allow; the popup closes itself."""
    with page.expect_popup() as opened:
        page.click(button)
    popup = opened.value
    popup.wait_for_load_state()
    expect(popup.locator("#consent-form")).to_be_visible()
    popup.check(_account_radio(account))
    expect(popup.locator("#grant-gmail-send")).to_be_checked()
    if screenshot is not None:
        popup.screenshot(path=str(screenshot), full_page=True)
    popup.click("#allow")
    popup.wait_for_event("close", timeout=15_000)


def _from_options(page: Page) -> list[tuple[str, bool]]:
    options = page.locator("#from-select option")
    return [
        (options.nth(i).inner_text(), options.nth(i).is_disabled()) for i in range(options.count())
    ]


def test_an_admin_connects_loses_re_authorizes_and_revokes_gmail(
    page_context: Any,
    company: TestCompany,
    web: str,
    sandbox: SandboxClient,
    stack_env: dict[str, str],
    database: Pool,
    connections: PostgresConnections,
    screenshots: Path,
) -> None:
    account = f"owner.{uuid.uuid4().hex[:8]}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account, name="Acme Owner")
    page = page_context.new_page()

    # The one-time login link opens the settings page; nothing is connected yet.
    page.goto(_login_link(company, stack_env))
    expect(page).to_have_url(f"{web}/settings/email")
    expect(page.locator("h1.page-title")).to_have_text("Email")
    expect(page.locator("#status-badge")).to_have_text("Disconnected")
    expect(page.locator("#btn-sign-in")).to_be_visible()
    page.screenshot(path=str(screenshots / "settings-disconnected.png"), full_page=True)

    # Sign in with Google in the popup: pick the account, Allow.
    _sign_in_with_google(page, "#btn-sign-in", account, screenshots / "settings-consent.png")
    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#gmail-address")).to_have_text(account)
    expect(page.locator("#btn-revoke")).to_be_visible()
    expect(page.locator("#btn-reauthorize")).to_have_count(0)
    options = _from_options(page)
    assert any(account in label and not disabled for label, disabled in options)
    assert any("(default sender)" in label and not disabled for label, disabled in options)
    page.screenshot(path=str(screenshots / "settings-active.png"), full_page=True)

    # The user removes the app in their Google account; Check now shows the truth.
    sandbox.post(f"/_sandbox/accounts/{account}/revoke")
    page.click("#btn-check-now")
    expect(page.locator("#status-badge")).to_have_text("Not connected")
    expect(page.locator("#broken-reason")).to_contain_text(
        "access was revoked in the Google account"
    )
    expect(page.locator("#btn-reauthorize")).to_be_visible()
    expect(page.locator("#btn-revoke")).to_be_visible()
    gmail_option = page.locator("#from-select option[value=gmail]")
    expect(gmail_option).to_be_disabled()
    expect(gmail_option).to_contain_text("Gmail is not connected")
    page.screenshot(path=str(screenshots / "settings-not-connected.png"), full_page=True)

    # Re-authorize Sync in the popup: Active again.
    _sign_in_with_google(page, "#btn-reauthorize", account)
    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#gmail-address")).to_have_text(account)

    # Revoke Access asks first; Cancel keeps the connection.
    page.click("#btn-revoke")
    dialog = page.locator("#revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(account)
    page.screenshot(path=str(screenshots / "settings-revoke-dialog.png"))
    page.click("#btn-revoke-cancel")
    expect(dialog).to_be_hidden()
    expect(page.locator("#status-badge")).to_have_text("Active")

    # Revoke removes it: Google is told once, no token is left, only the default sender.
    page.click("#btn-revoke")
    page.click("#btn-revoke-confirm")
    expect(page.locator("#status-badge")).to_have_text("Disconnected")
    expect(page.locator("#btn-sign-in")).to_be_visible()
    expect(page.locator(".notice.success")).to_contain_text("was revoked")
    options = _from_options(page)
    assert len(options) == 1
    assert "(default sender)" in options[0][0]
    page.screenshot(path=str(screenshots / "settings-revoked.png"), full_page=True)

    assert sandbox.get("/_sandbox/counters")["revokes"].get(account.lower()) == 1
    record = connections.for_company(company.id)
    assert record is not None
    assert record.state == "disconnected"
    assert not record.has_refresh_token
    assert connections.tokens(record.id) is None


def test_the_page_checks_a_connection_whose_last_check_is_older_than_a_minute(
    page_context: Any,
    company: TestCompany,
    web: str,
    sandbox: SandboxClient,
    stack_env: dict[str, str],
    database: Pool,
) -> None:
    account = f"owner.{uuid.uuid4().hex[:8]}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account)
    page = page_context.new_page()
    page.goto(_login_link(company, stack_env))
    _sign_in_with_google(page, "#btn-sign-in", account)
    expect(page.locator("#status-badge")).to_have_text("Active")
    sandbox.post(f"/_sandbox/accounts/{account}/revoke")
    with database.connection() as conn:
        conn.execute(
            "UPDATE gmail_connections SET last_verified_at = now() - interval '2 minutes'"
            " WHERE company_id = %s",
            (company.id,),
        )

    page.goto(f"{web}/settings/email")

    expect(page.locator("#status-badge")).to_have_text("Not connected")
    expect(page.locator("#last-verified")).to_have_text(re.compile(r"minutes? ago"))
