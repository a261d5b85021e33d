"""The Email settings page in real headless Chromium: the whole life of a Gmail connection, as
an admin lives it (including an email that fails while Gmail is not connected and is sent after
Re-authorize Sync), with a screenshot of each state in docs/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from tests.conftest import SandboxClient, TestCompany, email_request, wait_for
from tests.e2e.pages import (
    account_radio,
    from_options,
    login_link,
    open_login_link,
    refusals_of_the_policy,
)
from tests.stack import Process

pytestmark = pytest.mark.browser


def _sign_in_with_google(
    page: Page, button: str, account: str, screenshot: Path | None = None
) -> None:
    """Click `button`, pick `account` in the Google popup, Allow; the popup closes itself."""
    with page.expect_popup() as opened:
        page.click(button)
    popup = opened.value
    popup.wait_for_load_state()
    expect(popup.locator("#consent-form")).to_be_visible()
    popup.check(account_radio(account))
    expect(popup.locator("#grant-gmail-send")).to_be_checked()
    if screenshot is not None:
        popup.screenshot(path=str(screenshot), full_page=True)
    popup.click("#allow")
    popup.wait_for_event("close", timeout=15_000)


def _email_row(page: Page, email_id: str, status: str, timeout: float = 30) -> Locator:
    """The recent-emails row of `email_id` once it shows `status` (the page reloads until then:
    it is server-rendered and does not poll)."""
    row = page.locator(f'#emails-table tr[data-email-id="{email_id}"]')

    def shown() -> bool:
        page.reload()
        return row.count() == 1 and row.get_attribute("data-status") == status

    wait_for(
        shown, timeout=timeout, interval=0.3, what=f"email {email_id} to be listed as {status}"
    )
    return row


def test_an_admin_connects_loses_re_authorizes_and_revokes_gmail(
    page_context: Any,
    company: TestCompany,
    web: str,
    sandbox: SandboxClient,
    stack_env: dict[str, str],
    database: Pool,
    connections: PostgresConnections,
    screenshots: Path,
    api: httpx.Client,
    worker: Process,
) -> None:
    account = f"owner.{uuid.uuid4().hex[:8]}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account, name="Acme Owner")
    page = page_context.new_page()
    refused_by_policy = refusals_of_the_policy(page)

    # The one-time login link shows who it signs in; its button opens the settings page;
    # nothing is connected yet.
    open_login_link(page, login_link(company, stack_env))
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
    options = from_options(page)
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

    # A billing run still sends From Gmail (the form no longer can): it fails, with the reason
    # on screen, and nothing goes out from another address.
    accepted = api.post(
        "/v1/emails",
        headers=company.headers(),
        json=email_request(company, sender="gmail", subject="Invoice 2026-0107"),
    )
    assert accepted.status_code == 202, accepted.text
    email_id = accepted.json()["id"]
    row = _email_row(page, email_id, "failed")
    expect(row.locator(".status")).to_have_text("failed")
    error = row.locator(".error-text")
    expect(error).to_contain_text(f"Gmail account {account} is not connected")
    expect(error).to_contain_text("re-authorize it in Settings > Company > Profile > Email")
    expect(row.locator(".btn-retry-email")).to_be_disabled()
    expect(page.locator("#btn-retry-failed")).to_have_count(0)
    assert sandbox.get(f"/_sandbox/gmail/{account}/sent")["messages"] == []
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []
    page.screenshot(path=str(screenshots / "settings-not-connected.png"), full_page=True)

    # Re-authorize Sync in the popup: Active again, and the page offers to retry what failed.
    _sign_in_with_google(page, "#btn-reauthorize", account)
    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#gmail-address")).to_have_text(account)
    retry = page.locator("#btn-retry-failed")
    expect(retry).to_have_text("Retry 1 email that failed while Gmail was not connected")
    page.screenshot(path=str(screenshots / "settings-retry.png"), full_page=True)

    # Retry sends it through Gmail, with the Message-ID it always had.
    retry.click()
    expect(page.locator(".notice.success")).to_contain_text("1 email queued to send again")
    row = _email_row(page, email_id, "sent")
    expect(row.locator(".status")).to_have_text("sent")
    expect(row.locator(".error-text")).to_have_count(0)
    expect(page.locator("#btn-retry-failed")).to_have_count(0)
    [received] = wait_for(
        lambda: sandbox.get(f"/_sandbox/gmail/{account}/sent")["messages"],
        timeout=10,
        what="Gmail to receive the retried email",
    )
    assert received["subject"] == "Invoice 2026-0107"
    assert received["message_id"] == f"<{email_id}@acme-sandbox.test>"
    assert company.rcpt() in received["rcpt_tos"]
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []

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
    options = from_options(page)
    assert len(options) == 1
    assert "(default sender)" in options[0][0]
    page.screenshot(path=str(screenshots / "settings-revoked.png"), full_page=True)

    assert sandbox.get("/_sandbox/counters")["revokes"].get(account.lower()) == 1
    assert refused_by_policy == []
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
    refused_by_policy = refusals_of_the_policy(page)
    open_login_link(page, login_link(company, stack_env))
    _sign_in_with_google(page, "#btn-sign-in", account)
    expect(page.locator("#status-badge")).to_have_text("Active")
    sandbox.post(f"/_sandbox/accounts/{account}/revoke")
    with database.connection() as conn:
        conn.execute(
            "UPDATE mailbox_connections SET last_verified_at = now() - interval '2 minutes'"
            " WHERE company_id = %s",
            (company.id,),
        )

    page.goto(f"{web}/settings/email")

    expect(page.locator("#status-badge")).to_have_text("Not connected")
    expect(page.locator("#last-verified")).to_have_text(re.compile(r"minutes? ago"))
    assert refused_by_policy == []


def test_an_admin_adds_a_webhook_copies_its_secret_and_reads_its_deliveries(
    page_context: Any,
    company: TestCompany,
    web: str,
    stack_env: dict[str, str],
    screenshots: Path,
    api: httpx.Client,
    worker: Process,
) -> None:
    url = "https://93.184.215.14/hooks/mailroute"  # public; nothing answers it from here
    page = page_context.new_page()
    refused_by_policy = refusals_of_the_policy(page)
    open_login_link(page, login_link(company, stack_env))
    expect(page.locator("#no-webhooks")).to_be_visible()

    page.fill("#webhook-url-input", url)
    page.fill("#webhook-description", "Billing service")
    page.click("#btn-add-webhook")

    expect(page.locator("#webhook-url")).to_have_text(url)
    expect(page.locator("#webhook-secret")).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
    page.screenshot(path=str(screenshots / "settings-webhook-secret.png"), full_page=True)
    page.click("#back-to-settings")
    row = page.locator("#webhooks-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".webhook-url")).to_have_text(url)
    expect(row).to_contain_text("email.sent, email.failed")
    expect(page.locator("#webhook-secret")).to_have_count(0)

    sent = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    assert sent.status_code == 202
    row.get_by_text("Deliveries").click()
    expect(page.locator("h1.page-title")).to_have_text(f"Deliveries to {url}")

    def attempted() -> bool:
        page.reload()
        return page.locator("#deliveries-table tr[data-delivery-id] .attempt").count() >= 1

    wait_for(attempted, timeout=30, what="the email.sent delivery's first attempt on the page")
    expect(page.locator("#deliveries-table")).to_contain_text("email.sent")
    page.screenshot(path=str(screenshots / "settings-webhook-deliveries.png"), full_page=True)
    page.goto(f"{web}/settings/email#webhooks-card")
    page.locator("#webhooks-card").screenshot(path=str(screenshots / "settings-webhooks.png"))
    assert refused_by_policy == []
