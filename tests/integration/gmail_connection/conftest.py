"""Fixtures for the Gmail connection's integration tests: the web app and the sandbox as real
processes, a fresh sandbox Google account per test (so its counters are exact), and a browser-like
client that signs in with a login link and walks the OAuth flow over HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.core.records import ConnectionRecord
from tests.conftest import SandboxClient, TestCompany

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """An HTTP client with its own cookie jar, standing in for one admin's browser."""

    http: httpx.Client
    sandbox: SandboxClient
    company: TestCompany

    def login(self, pool: Pool) -> None:
        links = PostgresLoginLinks(pool)
        admin = links.find_admin(self.company.id)
        assert admin is not None
        path = f"/login/{links.create(admin)}"
        page = self.http.get(path)  # shows the confirm button; the POST spends the link
        assert page.status_code == 200, page.text
        found = _CSRF.search(page.text)
        assert found is not None
        response = self.http.post(path, data={"csrf": found.group(1)})
        assert response.status_code == 303, response.text

    def csrf(self) -> str:
        page = self.http.get("/settings/email")
        assert page.status_code == 200, page.text
        found = _CSRF.search(page.text)
        assert found is not None
        return found.group(1)

    def authorize_api(self, *, switch_account: bool = False, role: str = "admin") -> httpx.Response:
        return self.http.post(
            "/v1/gmail/authorize",
            headers=self.company.headers(role),
            json={"switch_account": switch_account},
        )

    def authorization_url(self, *, switch_account: bool = False) -> str:
        response = self.authorize_api(switch_account=switch_account)
        assert response.status_code == 200, response.text
        url: str = response.json()["authorization_url"]
        return url

    def google_answers(
        self, auth_url: str, account: str, *, grant_send: bool = True, action: str = "allow"
    ) -> str:
        """What Google redirects the browser to after the consent page (the callback URL)."""
        answer = self.sandbox.post(
            "/_sandbox/oauth/approve",
            auth_url=auth_url,
            account=account,
            grant_send=grant_send,
            action=action,
        )
        redirect: str = answer["redirect_url"]
        return redirect

    def callback(self, redirect_url: str) -> httpx.Response:
        parts = urlsplit(redirect_url)
        return self.http.get(parts.path + "?" + parts.query)

    def connect(self, account: str, **answer: Any) -> httpx.Response:
        switch = bool(answer.pop("switch_account", False))
        url = self.authorization_url(switch_account=switch)
        return self.callback(self.google_answers(url, account, **answer))


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


@pytest.fixture
def browser_for(web: str, sandbox: SandboxClient) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(company: TestCompany) -> Browser:
        client = httpx.Client(base_url=web, timeout=30.0)
        clients.append(client)
        return Browser(client, sandbox, company)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def browser(browser_for: Any, company: TestCompany) -> Browser:
    found: Browser = browser_for(company)
    return found


@pytest.fixture
def google_account(sandbox: SandboxClient) -> str:
    """A Google account of the sandbox used by this test only."""
    email = f"owner.{uuid.uuid4().hex[:10]}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=email, name="Acme Owner")
    return email


@pytest.fixture
def connections(database: Pool, settings: Settings) -> PostgresConnections:
    return PostgresConnections(database, TokenCipher(settings.token_encryption_keys))


def connection_of(connections: PostgresConnections, company: TestCompany) -> ConnectionRecord:
    record = connections.for_company(company.id)
    assert record is not None
    return record


def revokes(sandbox: SandboxClient, account: str) -> int:
    counts: dict[str, int] = sandbox.get("/_sandbox/counters")["revokes"]
    return counts.get(account.lower(), 0)
