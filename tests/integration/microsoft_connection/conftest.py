"""Fixtures for the Microsoft 365 connection over HTTP: a sandbox (with its Microsoft TLS
listener) and a web app of their own, as processes; a fresh Microsoft account per test; and a
browser-like client with its own cookie jar that signs in with a login link and walks
"Sign in with Microsoft" as a browser would (the consent accepted through the sandbox)."""

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
from mailroute_sandbox.client import SandboxClient
from tests.conftest import TestCompany
from tests.microsoft_stack import MicrosoftStack, microsoft_stack

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def ms_stack(
    stack_env: dict[str, str],
    database: Pool,
    broker_vhost: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MicrosoftStack]:
    folder = tmp_path_factory.mktemp("microsoft-stack")
    with microsoft_stack(stack_env, folder, "microsoft-connection") as stack:
        yield stack


@pytest.fixture
def ms_sandbox(ms_stack: MicrosoftStack) -> SandboxClient:
    return ms_stack.sandbox


@dataclass
class Browser:
    """An HTTP client with its own cookie jar, standing in for one admin's browser."""

    http: httpx.Client
    sandbox: SandboxClient
    company: TestCompany
    microsoft_url: str  # the sandbox's Microsoft listener

    def login(self, pool: Pool) -> None:
        links = PostgresLoginLinks(pool)
        admin = links.find_admin(self.company.id)
        assert admin is not None
        path = f"/login/{links.create(admin)}"
        found = _CSRF.search(self.http.get(path).text)
        assert found is not None
        response = self.http.post(path, data={"csrf": found.group(1)})
        assert response.status_code == 303, response.text

    def authorize(self, provider: str = "microsoft", **body: Any) -> str:
        """The sign-in URL `POST /v1/<provider>/authorize` answers (binding this cookie jar)."""
        response = self.http.post(
            f"/v1/{provider}/authorize", headers=self.company.headers(), json=body
        )
        assert response.status_code == 200, response.text
        url: str = response.json()["authorization_url"]
        return url

    def microsoft_answers(self, auth_url: str, account: str, action: str = "accept") -> str:
        """Where Microsoft sends the browser back after its consent page (the callback URL)."""
        redirect: str = self.sandbox.ms_approve(account, auth_url, action=action)["redirect"]
        return redirect

    def callback(self, redirect_url: str) -> httpx.Response:
        parts = urlsplit(redirect_url)
        return self.http.get(parts.path + "?" + parts.query)

    def connect(self, account: str, **body: Any) -> httpx.Response:
        return self.callback(self.microsoft_answers(self.authorize(**body), account))

    def api(self, method: str, path: str, role: str = "admin") -> httpx.Response:
        return self.http.request(method, path, headers=self.company.headers(role))


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


@pytest.fixture
def browser_for(ms_stack: MicrosoftStack) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(company: TestCompany) -> Browser:
        client = httpx.Client(base_url=ms_stack.web, timeout=30.0)
        clients.append(client)
        return Browser(client, ms_stack.sandbox, company, ms_stack.microsoft_url)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def browser(browser_for: Any, company: TestCompany) -> Browser:
    found: Browser = browser_for(company)
    return found


@pytest.fixture
def ms_account(ms_sandbox: SandboxClient) -> str:
    """A Microsoft work account of the sandbox used by this test only."""
    email = f"ada.{uuid.uuid4().hex[:10]}@contoso-sandbox.test"
    ms_sandbox.ms_add_account(email, name="Ada Contoso")
    return email


@pytest.fixture
def ms_connections(database: Pool, settings: Settings) -> PostgresConnections:
    cipher = TokenCipher(settings.token_encryption_keys)
    return PostgresConnections(database, cipher, provider="microsoft")


def microsoft_of(connections: PostgresConnections, company: TestCompany) -> ConnectionRecord:
    record = connections.for_company(company.id)
    assert record is not None
    return record


def mailbox(settings: dict[str, Any], provider: str) -> dict[str, Any]:
    """`mailboxes[provider=…]` of an Email settings answer."""
    found: dict[str, Any] = next(m for m in settings["mailboxes"] if m["provider"] == provider)
    return found
