"""Fixtures for mailroute's Microsoft adapters against the real sandbox: one in-process sandbox
with its Microsoft TLS listener per session, reset per test; the real msal, requests and httpx
talk to it over HTTPS, trusting the sandbox's CA file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from mailroute.adapters.microsoft.graph import GraphSender
from mailroute.adapters.microsoft.oauth import MicrosoftGrant, MicrosoftOAuth
from mailroute.config.microsoft_settings import MicrosoftSettings
from mailroute_sandbox.client import SandboxClient
from mailroute_sandbox.server import SandboxServer

REDIRECT_URI = "http://127.0.0.1:8000/oauth/microsoft/callback"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(http_port=0, smtp_port=0, microsoft_port=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxClient]:
    with SandboxClient(sandbox_server.base_url) as client:
        client.reset()
        yield client


@pytest.fixture
def ms_settings(sandbox_server: SandboxServer) -> MicrosoftSettings:
    settings = MicrosoftSettings.from_env(
        {"MICROSOFT_CA_FILE": str(sandbox_server.microsoft_ca_path)},
        sandbox_microsoft_url=sandbox_server.microsoft_base_url,
    )
    assert settings.problems() == []
    return settings


@pytest.fixture
def oauth(ms_settings: MicrosoftSettings, sandbox: SandboxClient) -> Iterator[MicrosoftOAuth]:
    provider = MicrosoftOAuth(ms_settings, redirect_uri=REDIRECT_URI)
    yield provider
    provider.close()


@pytest.fixture
def graph(ms_settings: MicrosoftSettings, sandbox: SandboxClient) -> Iterator[GraphSender]:
    sender = GraphSender(ms_settings.graph_url, ca_file=ms_settings.ca_file)
    yield sender
    sender.close()


@dataclass(frozen=True)
class SignedIn:
    address: str
    grant: MicrosoftGrant
    auth_url: str


def new_address(prefix: str = "ada") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@contoso.example"


def sign_in(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, address: str | None = None, **account: object
) -> SignedIn:
    """An account, its consent accepted without a browser, and the code exchanged."""
    address = address or new_address()
    sandbox.ms_add_account(address, **account)  # type: ignore[arg-type]
    state = uuid.uuid4().hex
    start = oauth.authorization_url(state, login_hint=address)
    approved = sandbox.ms_approve(address, start.url)
    query = parse_qs(urlsplit(approved["redirect"]).query)
    assert query["state"] == [state]
    grant = oauth.exchange_code(query["code"][0], state=state, code_verifier=start.code_verifier)
    return SignedIn(address, grant, start.url)


def mime(
    sender: str,
    to: str = "bo@fabrikam.example",
    *,
    attachments: tuple[tuple[str, bytes], ...] = (),
    message_id: str | None = None,
) -> tuple[bytes, str]:
    """A finished message (CRLF) and its Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Invoice 42"
    mid = message_id or f"<{uuid.uuid4().hex}@mailroute.example>"
    msg["Message-ID"] = mid
    msg.set_content("Please find the invoice attached.")
    for name, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), mid
