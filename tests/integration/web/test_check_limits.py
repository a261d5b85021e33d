"""Costly calls are bounded: "Check now" on the settings page and POST /v1/gmail/verify each
refresh a token at Google, so together they are limited per company (5 a minute by default),
counted in PostgreSQL so that every web process shares the count. One more is refused with 429,
Retry-After and the rule, and Google is not asked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_connection.conftest import Browser
from tests.integration.web.conftest import WebProcess

LIMIT = 5


@pytest.fixture
def connected(
    web: str, sandbox: SandboxClient, company: TestCompany, database: Any
) -> Iterator[tuple[Browser, str]]:
    """The company's admin, signed in, with a Gmail account connected."""
    account = f"owner.{uuid.uuid4().hex[:10]}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account, name="Acme Owner")
    with httpx.Client(base_url=web, timeout=30.0) as client:
        browser = Browser(client, sandbox, company)
        assert browser.connect(account).status_code == 200
        browser.login(database)
        yield browser, account


def _refreshes(sandbox: SandboxClient, account: str) -> int:
    counts: dict[str, int] = sandbox.get("/_sandbox/counters")["token_refreshes"]
    return counts.get(account.lower(), 0)


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "company_id"
    assert field["rule"] == "checks_per_minute"


def test_verify_is_limited_per_company_across_web_processes_and_google_is_not_asked_again(
    connected: tuple[Browser, str],
    own_web: WebProcess,
    api: httpx.Client,
    sandbox: SandboxClient,
    company: TestCompany,
    make_company: Any,
) -> None:
    _, account = connected
    before = _refreshes(sandbox, account)
    with httpx.Client(base_url=own_web.url, timeout=30.0) as second_process:
        answers = [
            (api if n % 2 else second_process).post("/v1/gmail/verify", headers=company.headers())
            for n in range(LIMIT)
        ]
        over_here = api.post("/v1/gmail/verify", headers=company.headers("sender"))
        over_there = second_process.post("/v1/gmail/verify", headers=company.headers())
    other = make_company()
    others = api.post("/v1/gmail/verify", headers=other.headers())

    assert [a.status_code for a in answers] == [200] * LIMIT
    _assert_limited(over_here)
    _assert_limited(over_there)
    assert _refreshes(sandbox, account) - before == LIMIT
    assert others.status_code == 200


def test_check_now_on_the_settings_page_shares_the_limit_and_says_when_to_try_again(
    connected: tuple[Browser, str], api: httpx.Client, sandbox: SandboxClient, company: TestCompany
) -> None:
    browser, account = connected
    csrf = browser.csrf()
    before = _refreshes(sandbox, account)
    for _ in range(LIMIT - 1):
        assert api.post("/v1/gmail/verify", headers=company.headers()).status_code == 200
    last = browser.http.post("/settings/email/check", data={"csrf": csrf})

    as_json = browser.http.post(
        "/settings/email/check", data={"csrf": csrf}, headers={"Accept": "application/json"}
    )
    as_page = browser.http.post("/settings/email/check", data={"csrf": csrf})

    assert last.status_code == 303
    _assert_limited(as_json)
    assert as_page.status_code == 429
    assert 1 <= int(as_page.headers["retry-after"]) <= 60
    assert "Checked too often" in as_page.text
    assert "at most 5 connection checks a minute per company" in as_page.text
    assert 'id="back-to-settings"' in as_page.text
    assert _refreshes(sandbox, account) - before == LIMIT
