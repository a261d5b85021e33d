"""A Gmail connection whose refresh token Google says will end (a project in testing mode):
the API and the settings page show "Expires soon" with the date, and the clock sends the
company's admins one advance notice however often, and however many clocks, run it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.bootstrap.expiry import expiry_notices
from mailroute.config.settings import Settings
from tests.conftest import SandboxClient, TestCompany, wait_for
from tests.integration.gmail_connection.conftest import Browser, connection_of

TWO_DAYS = 2 * 24 * 3600
SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture
def testing_mode(sandbox: SandboxClient) -> Iterator[Any]:
    """Google in testing mode, with a refresh-token lifetime the test chooses; put back after."""
    before = sandbox.get("/_sandbox/settings")

    def switch(lifetime: int) -> None:
        sandbox.post(
            "/_sandbox/settings", testing_mode=True, refresh_token_lifetime_seconds=lifetime
        )

    yield switch
    sandbox.post(
        "/_sandbox/settings",
        testing_mode=before["testing_mode"],
        refresh_token_lifetime_seconds=before["refresh_token_lifetime_seconds"],
    )


def _gmail_box(api: httpx.Client, company: TestCompany) -> dict[str, Any]:
    response = api.get("/v1/email-settings", headers=company.headers())
    assert response.status_code == 200, response.text
    box: dict[str, Any] = response.json()["mailboxes"][0]
    assert box["provider"] == "gmail"
    return box


def test_a_testing_mode_connection_shows_expires_soon_with_the_date_in_the_api_and_the_page(
    browser: Browser,
    api: httpx.Client,
    database: Pool,
    google_account: str,
    testing_mode: Any,
) -> None:
    testing_mode(TWO_DAYS)
    browser.login(database)
    before = datetime.now(UTC)

    browser.connect(google_account)
    box = _gmail_box(api, browser.company)
    page = browser.http.get("/settings/email").text

    ends = datetime.fromisoformat(box["expires_at"])
    assert box["state"] == "active"
    assert box["expires_soon"] is True
    assert before + timedelta(days=2) - timedelta(minutes=1) < ends
    assert ends <= datetime.now(UTC) + timedelta(days=2)
    shown = ends.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f'id="expiry-badge" title="{shown}">Expires soon · {shown}</span>' in page
    assert '<span class="badge active" id="status-badge">Active</span>' in page
    assert 'id="expiry-callout"' in page
    assert 'id="btn-expiry-reauthorize"' in page


def test_a_seven_day_testing_mode_token_shows_its_end_but_is_not_soon_yet(
    browser: Browser,
    api: httpx.Client,
    database: Pool,
    google_account: str,
    testing_mode: Any,
) -> None:
    testing_mode(SEVEN_DAYS)
    browser.login(database)

    browser.connect(google_account)
    box = _gmail_box(api, browser.company)
    page = browser.http.get("/settings/email").text

    assert box["expires_at"] is not None
    assert box["expires_soon"] is False
    assert 'id="expires-at"' in page
    assert 'id="expiry-badge"' not in page


def test_a_connection_without_an_announced_end_shows_none(
    browser: Browser, api: httpx.Client, database: Pool, google_account: str
) -> None:
    browser.login(database)

    browser.connect(google_account)
    box = _gmail_box(api, browser.company)

    assert box["expires_at"] is None
    assert box["expires_soon"] is False


def test_a_refresh_reads_the_end_google_announces(
    browser: Browser,
    database: Pool,
    google_account: str,
    testing_mode: Any,
    connections: PostgresConnections,
    settings: Settings,
) -> None:
    testing_mode(TWO_DAYS)
    browser.login(database)
    browser.connect(google_account)
    record = connection_of(connections, browser.company)
    tokens = connections.tokens(record.id)
    assert tokens is not None

    refreshed = GoogleOAuth(settings).refresh(tokens.refresh_token)

    assert refreshed.refresh_expires_at is not None
    assert record.refresh_expires_at is not None
    assert abs(refreshed.refresh_expires_at - record.refresh_expires_at) < timedelta(seconds=5)


def test_the_clock_sends_one_advance_notice_however_many_times_and_clocks_run_it(
    browser: Browser,
    database: Pool,
    google_account: str,
    testing_mode: Any,
    sandbox: SandboxClient,
    settings: Settings,
    connections: PostgresConnections,
) -> None:
    testing_mode(TWO_DAYS)
    browser.login(database)
    browser.connect(google_account)
    record = connection_of(connections, browser.company)
    admin = browser.company.admin_email
    clocks = [expiry_notices(settings, database) for _ in range(3)]

    clocks[0].send_due()
    clocks[0].send_due()
    runs = [threading.Thread(target=clock.send_due) for clock in clocks for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    notice = wait_for(lambda: sandbox.smtp_messages(rcpt=admin), what="the advance notice")

    assert len(notice) == 1
    assert len(sandbox.smtp_messages(rcpt=admin)) == 1
    assert record.refresh_expires_at is not None
    when = record.refresh_expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert when in notice[0]["subject"]
    with database.connection() as conn:
        row = conn.execute(
            "SELECT status, attempts FROM expiry_notices WHERE connection_id = %s",
            (record.id,),
        ).fetchone()
    assert row is not None
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_a_re_authorized_connection_gets_its_own_advance_notice(
    browser: Browser,
    database: Pool,
    google_account: str,
    testing_mode: Any,
    sandbox: SandboxClient,
    settings: Settings,
) -> None:
    testing_mode(TWO_DAYS)
    browser.login(database)
    browser.connect(google_account)
    clock = expiry_notices(settings, database)
    admin = browser.company.admin_email
    clock.send_due()

    browser.connect(google_account)
    clock.send_due()
    clock.send_due()

    notices = wait_for(
        lambda: len(found := sandbox.smtp_messages(rcpt=admin)) >= 2 and found,
        what="two advance notices",
    )
    assert len(notices) == 2
