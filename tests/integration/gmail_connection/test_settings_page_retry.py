"""The settings page's retries over plain HTTP: "Retry N emails that failed while Gmail was not
connected" after a re-authorization, and one failed email's Retry button."""

from __future__ import annotations

import re
from typing import Any

import httpx

from mailroute.adapters.db.pool import Pool
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.integration.gmail_connection.conftest import Browser

RETRY_BUTTON = re.compile(r'id="btn-retry-failed">([^<]*)</button>')


def _break(api: httpx.Client, sandbox: SandboxClient, company: TestCompany, account: str) -> None:
    """The user removes the app in Google; Check now finds out."""
    sandbox.post(f"/_sandbox/accounts/{account}/revoke")
    checked = api.post("/v1/gmail/verify", headers=company.headers())
    assert checked.status_code == 200, checked.text


def _failed_from_gmail(api: httpx.Client, company: TestCompany, subject: str) -> str:
    accepted = api.post(
        "/v1/emails",
        headers=company.headers(),
        json=email_request(company, sender="gmail", subject=subject),
    )
    assert accepted.status_code == 202, accepted.text
    email_id: str = accepted.json()["id"]
    assert final_email(api, company, email_id)["error"]["code"] == "gmail_not_connected"
    return email_id


def _status(api: httpx.Client, company: TestCompany, email_id: str) -> str:
    status: str = api.get(f"/v1/emails/{email_id}", headers=company.headers()).json()["status"]
    return status


def _retry_button(page: str) -> str | None:
    found = RETRY_BUTTON.search(page)
    return found.group(1) if found else None


def test_after_re_authorizing_the_page_retries_the_emails_that_failed_while_not_connected(
    browser: Browser,
    google_account: str,
    database: Pool,
    company: TestCompany,
    api: httpx.Client,
    sandbox: SandboxClient,
    worker: Any,
) -> None:
    browser.connect(google_account)
    _break(api, sandbox, company, google_account)
    ids = [_failed_from_gmail(api, company, f"Invoice 2026-02{n}") for n in range(2)]
    browser.login(database)
    while_broken = browser.http.get("/settings/email").text

    browser.connect(google_account)
    offered = browser.http.get("/settings/email").text
    retried = browser.http.post("/settings/email/retry-failed", data={"csrf": browser.csrf()})
    after_retry = browser.http.get("/settings/email").text
    finals = [final_email(api, company, email_id) for email_id in ids]
    afterwards = browser.http.get("/settings/email").text

    assert _retry_button(while_broken) is None
    assert _retry_button(offered) == "Retry 2 emails that failed while Gmail was not connected"
    assert retried.status_code == 303
    assert "2 emails queued to send again through Gmail" in after_retry
    assert [f["status"] for f in finals] == ["sent", "sent"]
    assert [f["route"] for f in finals] == ["gmail", "gmail"]
    sent = sandbox.get(f"/_sandbox/gmail/{google_account}/sent")["messages"]
    assert sorted(m["message_id"] for m in sent) == sorted(
        f"<{email_id}@acme-sandbox.test>" for email_id in ids
    )
    assert _retry_button(afterwards) is None


def test_a_failed_email_is_retried_from_its_row_once_gmail_works_again(
    browser: Browser,
    google_account: str,
    database: Pool,
    company: TestCompany,
    api: httpx.Client,
    sandbox: SandboxClient,
    worker: Any,
) -> None:
    browser.connect(google_account)
    _break(api, sandbox, company, google_account)
    email_id = _failed_from_gmail(api, company, "Invoice 2026-0301")
    browser.login(database)
    row_form = f'action="/settings/email/emails/{email_id}/retry"'

    listed = browser.http.get("/settings/email").text
    too_early = browser.http.post(
        f"/settings/email/emails/{email_id}/retry", data={"csrf": browser.csrf()}
    )
    refused = browser.http.get("/settings/email").text
    still = _status(api, company, email_id)
    browser.connect(google_account)
    retried = browser.http.post(
        f"/settings/email/emails/{email_id}/retry", data={"csrf": browser.csrf()}
    )
    final = final_email(api, company, email_id)
    afterwards = browser.http.get("/settings/email").text

    assert row_form in listed
    assert 'disabled title="Re-authorize Gmail first">Retry</button>' in listed
    assert f"Gmail account {google_account} is not connected" in listed
    assert too_early.status_code == 303
    assert "The email was not retried: Gmail account" in refused
    assert still == "failed"
    assert retried.status_code == 303
    assert final["status"] == "sent"
    assert row_form not in afterwards
    assert _retry_button(afterwards) is None
    [received] = sandbox.get(f"/_sandbox/gmail/{google_account}/sent")["messages"]
    assert received["message_id"] == f"<{email_id}@acme-sandbox.test>"


def test_the_retry_forms_change_nothing_without_the_csrf_token_or_for_another_company(
    browser_for: Any,
    make_company: Any,
    google_account: str,
    database: Pool,
    api: httpx.Client,
    sandbox: SandboxClient,
    worker: Any,
) -> None:
    owner: TestCompany = make_company()
    stranger: TestCompany = make_company()
    owners_browser: Browser = browser_for(owner)
    strangers_browser: Browser = browser_for(stranger)
    owners_browser.connect(google_account)
    _break(api, sandbox, owner, google_account)
    email_id = _failed_from_gmail(api, owner, "Invoice 2026-0401")
    owners_browser.connect(google_account)
    owners_browser.login(database)
    strangers_browser.login(database)

    forged_all = owners_browser.http.post("/settings/email/retry-failed", data={"csrf": "guess"})
    forged_one = owners_browser.http.post(f"/settings/email/emails/{email_id}/retry")
    foreign = strangers_browser.http.post(
        f"/settings/email/emails/{email_id}/retry", data={"csrf": strangers_browser.csrf()}
    )
    foreign_page = strangers_browser.http.get("/settings/email").text
    foreign_all = strangers_browser.http.post(
        "/settings/email/retry-failed", data={"csrf": strangers_browser.csrf()}
    )

    assert forged_all.status_code == 403
    assert forged_one.status_code == 403
    assert foreign.status_code == 303
    assert "The email was not retried: no such email" in foreign_page
    assert foreign_all.status_code == 303
    assert _status(api, owner, email_id) == "failed"
    owners_page = owners_browser.http.get("/settings/email").text
    assert _retry_button(owners_page) == "Retry 1 email that failed while Gmail was not connected"
