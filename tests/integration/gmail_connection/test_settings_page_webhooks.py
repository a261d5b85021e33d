"""The Webhooks section of the Email settings page: an admin adds an endpoint and sees its
signing secret once, rotates it, reads its deliveries, deletes it; private addresses are
refused here as over the API. (Deliveries themselves: tests/integration/webhooks/.)"""

from __future__ import annotations

import re

import httpx

from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany, email_request, final_email
from tests.integration.gmail_connection.conftest import Browser
from tests.stack import Process, wait_for

# A public address (no DNS needed); nothing listens for it from this machine.
PUBLIC = "https://93.184.215.14/hooks/mailroute"
_SECRET = re.compile(r'<code class="secret" id="webhook-secret">(whsec_[A-Za-z0-9+/=]+)</code>')


def _add(browser: Browser, url: str, *event_types: str) -> httpx.Response:
    return browser.http.post(
        "/settings/email/webhooks",
        data={
            "csrf": browser.csrf(),
            "url": url,
            "event_types": list(event_types),
            "description": "Billing service",
        },
    )


def _endpoint_ids(database: Pool, company: TestCompany) -> list[str]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT id FROM webhook_endpoints WHERE company_id = %s", (company.id,)
        ).fetchall()
    return [str(r["id"]) for r in rows]


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    added = _add(browser, PUBLIC, "email.sent", "email.failed")
    page = browser.http.get("/settings/email")

    assert added.status_code == 200
    assert added.headers["cache-control"] == "no-store"
    found = _SECRET.search(added.text)
    assert found is not None
    assert "it is not shown again" in added.text
    assert PUBLIC in page.text
    assert "email.sent, email.failed" in page.text
    assert found.group(1) not in page.text
    assert "whsec_" not in page.text
    [endpoint_id] = _endpoint_ids(database, company)
    assert f'data-webhook-id="{endpoint_id}"' in page.text


def test_rotating_shows_a_new_secret_and_says_the_old_one_still_signs_for_a_while(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    first = _SECRET.search(_add(browser, PUBLIC, "email.*").text)
    [endpoint_id] = _endpoint_ids(database, company)
    rotated = browser.http.post(
        f"/settings/email/webhooks/{endpoint_id}/rotate", data={"csrf": browser.csrf()}
    )

    second = _SECRET.search(rotated.text)
    assert first is not None
    assert second is not None
    assert second.group(1) != first.group(1)
    assert "keeps signing too until" in rotated.text


def test_a_private_address_is_refused_on_the_page_too(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    refused = _add(browser, "https://10.0.0.5/hook", "email.sent")
    page = browser.http.get("/settings/email")

    assert refused.status_code == 303
    assert "The webhook was not changed: url:" in page.text
    assert _endpoint_ids(database, company) == []


def test_the_deliveries_page_lists_an_emails_delivery_and_delete_removes_the_endpoint(
    browser: Browser,
    database: Pool,
    company: TestCompany,
    api: httpx.Client,
    worker: Process,
) -> None:
    browser.login(database)
    _add(browser, PUBLIC, "email.sent")
    [endpoint_id] = _endpoint_ids(database, company)
    sent = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    final_email(api, company, sent.json()["id"])

    def listed() -> httpx.Response | None:
        page = browser.http.get(f"/settings/email/webhooks/{endpoint_id}")
        return page if "email.sent" in page.text and "data-delivery-id" in page.text else None

    deliveries = wait_for(listed, what="the email.sent delivery listed")
    assert f"Deliveries to {PUBLIC}" in deliveries.text
    assert re.search(r"msg_[0-9a-f-]{36}", deliveries.text)

    deleted = browser.http.post(
        f"/settings/email/webhooks/{endpoint_id}/delete", data={"csrf": browser.csrf()}
    )
    assert deleted.status_code == 303
    assert _endpoint_ids(database, company) == []
    assert browser.http.get(f"/settings/email/webhooks/{endpoint_id}").status_code == 404


def test_webhook_forms_need_the_csrf_token(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    refused = browser.http.post(
        "/settings/email/webhooks", data={"url": PUBLIC, "event_types": ["email.sent"]}
    )

    assert refused.status_code in (400, 403)
    assert _endpoint_ids(database, company) == []
