"""The Email settings page's Microsoft 365 card in real headless Chromium: the whole life of a
Microsoft connection as an admin lives it (Sign in with Microsoft on the sandbox's consent page,
Active, broken at Microsoft and shown Not connected with the reason, Re-authorize, Revoke Access
with the page saying what Microsoft does not revoke), and both mailboxes side by side with the
primary mailbox choice; a screenshot of each state in docs/screenshots/settings-microsoft-*."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.core.connection import explain
from tests.conftest import TestCompany
from tests.e2e.pages import (
    account_radio,
    from_options,
    login_link,
    open_login_link,
    refusals_of_the_policy,
)
from tests.microsoft_stack import MicrosoftStack

pytestmark = pytest.mark.browser


def _sign_in_with_microsoft(
    page: Page, button: str, account: str, screenshot: Path | None = None
) -> None:
    """Click `button`, pick `account` on Microsoft's consent page in the popup, Accept; the
    popup closes itself and the page reloads."""
    with page.expect_popup() as opened:
        page.click(button)
    popup = opened.value
    expect(popup.locator("#consent-form")).to_be_visible()
    popup.check(account_radio(account))
    expect(popup.locator("#permissions")).to_contain_text("Send mail as you")
    if screenshot is not None:
        popup.screenshot(path=str(screenshot), full_page=True)
    popup.click("#accept")
    popup.wait_for_event("close", timeout=15_000)


def _open_settings(page: Page, company: TestCompany, ms_stack: MicrosoftStack) -> None:
    open_login_link(page, login_link(company, ms_stack.env))
    expect(page).to_have_url(f"{ms_stack.web}/settings/email")


def _microsoft_store(database: Pool, settings: Settings) -> PostgresConnections:
    cipher = TokenCipher(settings.token_encryption_keys)
    return PostgresConnections(database, cipher, provider="microsoft")


def test_an_admin_connects_loses_re_authorizes_and_revokes_microsoft_365(
    tls_page_context: Any,
    company: TestCompany,
    ms_stack: MicrosoftStack,
    database: Pool,
    settings: Settings,
    screenshots: Path,
) -> None:
    account = f"owner.{uuid.uuid4().hex[:8]}@contoso-sandbox.test"
    ms_stack.sandbox.ms_add_account(account, name="Contoso Owner")
    page = tls_page_context.new_page()
    refused_by_policy = refusals_of_the_policy(page)
    card = page.locator("#microsoft-card")

    # Nothing is connected: Sign in with Microsoft, and the page says what revoking does.
    _open_settings(page, company, ms_stack)
    expect(page.locator("#ms-status-badge")).to_have_text("Disconnected")
    expect(page.locator("#ms-btn-sign-in")).to_have_text("Sign in with Microsoft")
    expect(page.locator("#btn-sign-in")).to_be_visible()  # Google's, beside it
    note = page.locator("#ms-revocation-note")
    expect(note).to_contain_text("Microsoft gives apps like mailroute no way to withdraw")
    expect(note.locator("a[href='https://myapps.microsoft.com']")).to_have_count(1)
    expect(note.locator("a[href='https://account.live.com/consent/Manage']")).to_have_count(1)
    page.screenshot(path=str(screenshots / "settings-microsoft-disconnected.png"), full_page=True)

    # Sign in with Microsoft in the popup: pick the account, Accept.
    _sign_in_with_microsoft(
        page, "#ms-btn-sign-in", account, screenshots / "settings-microsoft-consent.png"
    )
    expect(page.locator("#ms-status-badge")).to_have_text("Active")
    expect(page.locator("#ms-address")).to_have_text(account)
    expect(page.locator("#ms-btn-check-now")).to_be_visible()
    expect(page.locator("#ms-btn-reauthorize")).to_have_count(0)
    options = from_options(page)
    assert any(
        account in label and "(Microsoft 365)" in label and not off for label, off in options
    )
    assert any("(default sender)" in label and not off for label, off in options)
    card.screenshot(path=str(screenshots / "settings-microsoft-active.png"))

    # The grant expires at Microsoft (unused for 90 days); Check now shows the truth in words.
    ms_stack.sandbox.ms_invalidate(account, "inactive")
    page.click("#ms-btn-check-now")
    expect(page.locator("#ms-status-badge")).to_have_text("Not connected")
    expect(page.locator("#ms-broken-reason")).to_contain_text(explain("inactive", "microsoft"))
    expect(page.locator("#ms-btn-reauthorize")).to_be_visible()
    option = page.locator("#from-select option[value=microsoft]")
    expect(option).to_be_disabled()
    expect(option).to_contain_text("Microsoft 365 is not connected")
    card.screenshot(path=str(screenshots / "settings-microsoft-not-connected.png"))

    # Re-authorize in the popup: Active again.
    _sign_in_with_microsoft(page, "#ms-btn-reauthorize", account)
    expect(page.locator("#ms-status-badge")).to_have_text("Active")
    expect(page.locator("#ms-broken-reason")).to_have_count(0)

    # Revoke Access asks first; Cancel keeps the connection.
    page.click("#ms-btn-revoke")
    dialog = page.locator("#ms-revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(account)
    expect(dialog).to_contain_text("no way to withdraw their own permission")
    page.screenshot(path=str(screenshots / "settings-microsoft-revoke-dialog.png"))
    page.click("#ms-btn-revoke-cancel")
    expect(dialog).to_be_hidden()
    expect(page.locator("#ms-status-badge")).to_have_text("Active")

    # Revoke: the tokens are deleted, only the default sender is left, and the notice says
    # what Microsoft did not do and where to finish it.
    page.click("#ms-btn-revoke")
    page.click("#ms-btn-revoke-confirm")
    expect(page.locator("#ms-status-badge")).to_have_text("Disconnected")
    expect(page.locator("#ms-btn-sign-in")).to_be_visible()
    notice = page.locator(".notice.success")
    expect(notice).to_contain_text(f"access for {account} was revoked in mailroute")
    expect(notice).to_contain_text("Microsoft itself revokes nothing")
    sign_out = notice.locator("a", has_text="Sign out of Microsoft").get_attribute("href")
    assert sign_out is not None
    assert sign_out.startswith(f"{ms_stack.microsoft_url}/common/oauth2/v2.0/logout?")
    options = from_options(page)
    assert [label for label, _off in options if "(Microsoft 365)" in label] == []
    page.screenshot(path=str(screenshots / "settings-microsoft-revoked.png"), full_page=True)

    assert refused_by_policy == []
    store = _microsoft_store(database, settings)
    record = store.for_company(company.id)
    assert record is not None
    assert (record.state, record.has_refresh_token) == ("disconnected", False)
    assert store.tokens(record.id) is None


def test_with_both_mailboxes_connected_the_admin_chooses_the_primary_one(
    tls_page_context: Any,
    company: TestCompany,
    ms_stack: MicrosoftStack,
    database: Pool,
    screenshots: Path,
) -> None:
    google = f"owner.{uuid.uuid4().hex[:8]}@acme-sandbox.test"
    microsoft = f"billing.{uuid.uuid4().hex[:8]}@contoso-sandbox.test"
    ms_stack.sandbox.add_account(google, name="Acme Owner")
    ms_stack.sandbox.ms_add_account(microsoft, name="Contoso Billing")
    page = tls_page_context.new_page()
    refused_by_policy = refusals_of_the_policy(page)
    _open_settings(page, company, ms_stack)

    with page.expect_popup() as opened:
        page.click("#btn-sign-in")
    popup = opened.value
    popup.check(account_radio(google))
    popup.click("#allow")
    popup.wait_for_event("close", timeout=15_000)
    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#primary-mailbox")).to_have_count(0)
    _sign_in_with_microsoft(page, "#ms-btn-sign-in", microsoft)
    expect(page.locator("#ms-status-badge")).to_have_text("Active")

    labels = [label for label, off in from_options(page) if not off]
    assert len(labels) == 3
    assert google in labels[0]
    assert microsoft in labels[1]
    assert "(default sender)" in labels[2]
    page.select_option("#primary-select", "microsoft")
    page.click("#btn-primary-save")
    expect(page.locator(".notice.success")).to_contain_text("now go from Microsoft 365")
    expect(page.locator("#primary-select")).to_have_value("microsoft")
    page.screenshot(path=str(screenshots / "settings-microsoft-both.png"), full_page=True)

    found = PostgresCompanies(database).get(company.id)
    assert found is not None
    assert found.primary_provider == "microsoft"
    assert refused_by_policy == []


def _connect_over_http(ms_stack: MicrosoftStack, company: TestCompany, account: str) -> None:
    """Sign the company in with Microsoft as an API client would (its own cookie jar)."""
    with httpx.Client(base_url=ms_stack.web, timeout=30.0) as client:
        started = client.post("/v1/microsoft/authorize", headers=company.headers(), json={})
        assert started.status_code == 200, started.text
        answer = ms_stack.sandbox.ms_approve(account, started.json()["authorization_url"])
        parts = urlsplit(answer["redirect"])
        assert client.get(f"{parts.path}?{parts.query}").status_code == 200


def test_the_page_checks_a_microsoft_mailbox_whose_last_check_is_older_than_a_minute(
    tls_page_context: Any, company: TestCompany, ms_stack: MicrosoftStack, database: Pool
) -> None:
    account = f"owner.{uuid.uuid4().hex[:8]}@contoso-sandbox.test"
    ms_stack.sandbox.ms_add_account(account)
    _connect_over_http(ms_stack, company, account)
    ms_stack.sandbox.ms_invalidate(account, "mfa_required")
    with database.connection() as conn:
        conn.execute(
            "UPDATE mailbox_connections SET last_verified_at = now() - interval '2 minutes'"
            " WHERE company_id = %s AND provider = 'microsoft'",
            (company.id,),
        )
    page = tls_page_context.new_page()
    refused_by_policy = refusals_of_the_policy(page)

    _open_settings(page, company, ms_stack)

    expect(page.locator("#ms-status-badge")).to_have_text("Not connected")
    expect(page.locator("#ms-broken-reason")).to_contain_text(explain("mfa_required", "microsoft"))
    expect(page.locator("#status-badge")).to_have_text("Disconnected")  # Gmail's, untouched
    assert refused_by_policy == []
