"""Fixtures for sending through Microsoft 365: a company whose mailbox is connected for real
(the sandbox's consent accepted without a browser, the code redeemed by msal, the credential
stored encrypted), the sandbox's control client, and helpers to publish and read emails."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.microsoft.credential import unpack_credential
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.core.mime import email_id_for
from mailroute.core.records import ConnectionRecord
from mailroute.events import EmailRequested, queues
from mailroute_sandbox.client import SandboxClient as FullSandbox
from tests.conftest import SandboxClient, TestCompany, email_request
from tests.stack import wait_for


@dataclass(frozen=True)
class MicrosoftCompany:
    """A test company with its Microsoft 365 mailbox connected to a sandbox account."""

    __test__ = False

    company: TestCompany
    account: str
    connection_id: str

    @property
    def id(self) -> str:
        return self.company.id


@pytest.fixture
def microsoft(sandbox: SandboxClient, settings: Settings) -> Iterator[FullSandbox]:
    """The sandbox's control client; Microsoft settings a test changes are put back after."""
    with FullSandbox(settings.sandbox_base_url) as client:
        before = client.ms_settings()
        yield client
        client.ms_settings(**{k: before[k] for k in _RESTORED if k in before})


_RESTORED = (
    "access_token_lifetime_seconds",
    "invalidate_rotated_refresh_tokens",
    "graph_latency_ms",
    "drafts_need_mail_readwrite",
)


@pytest.fixture
def ms_connections(database: Pool, settings: Settings) -> PostgresConnections:
    return PostgresConnections(
        database, TokenCipher(settings.token_encryption_keys), provider="microsoft"
    )


@pytest.fixture
def ms_oauth(settings: Settings, sandbox: SandboxClient) -> Iterator[MicrosoftOAuth]:
    oauth = MicrosoftOAuth(
        settings.microsoft,
        redirect_uri=settings.public_base_url + "/oauth/microsoft/callback",
    )
    yield oauth
    oauth.close()


@pytest.fixture
def connect_microsoft(
    database: Pool,
    microsoft: FullSandbox,
    ms_oauth: MicrosoftOAuth,
    ms_connections: PostgresConnections,
) -> Callable[[TestCompany, str], ConnectionRecord]:
    """Sign in with Microsoft for real (the consent accepted by the sandbox's control), then
    store the connection as the callback does."""

    def connect(company: TestCompany, account: str) -> ConnectionRecord:
        state = uuid.uuid4().hex
        start = ms_oauth.authorization_url(state, login_hint=account)
        approved = microsoft.ms_approve(account, start.url)
        code = parse_qs(urlsplit(approved["redirect"]).query)["code"][0]
        grant = ms_oauth.exchange_code(code, state=state, code_verifier=start.code_verifier)
        record, _outbox = ms_connections.connect(
            company.id,
            address=grant.identity.email,
            google_subject=grant.identity.subject,
            refresh_token=grant.refresh_credential,
            access_token=grant.access_token,
            access_token_expires_at=grant.expires_at,
            scopes=grant.granted_scopes,
            connected_by=None,
        )
        return record

    return connect


@pytest.fixture
def make_microsoft_company(
    make_company: Any,
    microsoft: FullSandbox,
    connect_microsoft: Callable[[TestCompany, str], ConnectionRecord],
) -> Callable[[], MicrosoftCompany]:
    def make() -> MicrosoftCompany:
        company: TestCompany = make_company()
        account = f"owner.{company.tag}@contoso-sandbox.test"
        microsoft.ms_add_account(account, name=f"Owner {company.tag}")
        record = connect_microsoft(company, account)
        return MicrosoftCompany(company=company, account=account, connection_id=record.id)

    return make


@pytest.fixture
def microsoft_company(make_microsoft_company: Callable[[], MicrosoftCompany]) -> MicrosoftCompany:
    return make_microsoft_company()


@pytest.fixture
def publish(broker: Any) -> Callable[..., str]:
    """Put an EmailRequested on the dispatch queue as a producer would; returns the email id."""
    queue = DramatiqQueues(broker)

    def send(company: MicrosoftCompany | TestCompany, **overrides: Any) -> str:
        base = company.company if isinstance(company, MicrosoftCompany) else company
        overrides.setdefault("sender", "microsoft")
        overrides.setdefault("attachments", [])
        event = EmailRequested.parse({**email_request(base, **overrides), "company_id": base.id})
        queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAIL, (event.to_wire(),))
        return email_id_for(event.company_id, event.event_id)

    return send


def rows(database: Pool, company_id: str) -> list[dict[str, Any]]:
    with database.connection() as conn:
        found: list[dict[str, Any]] = conn.execute(
            "SELECT id, status, route, error_code, error_message, from_address, sent_at"
            " FROM emails WHERE company_id = %s ORDER BY created_at",
            (company_id,),
        ).fetchall()
    return found


def all_ended(database: Pool, company_id: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = rows(database, company_id)
        return len(found) == count and all(r["status"] in ("sent", "failed") for r in found)

    return check


def stored_refresh_token(connections: PostgresConnections, connection_id: str) -> str:
    """The refresh token inside the connection's stored msal cache (decrypted)."""
    tokens = connections.tokens(connection_id)
    assert tokens is not None
    cache, _account = unpack_credential(tokens.refresh_token)
    [entry] = json.loads(cache)["RefreshToken"].values()
    secret: str = entry["secret"]
    return secret


def attachment_of(raw: str | bytes, filename: str) -> bytes:
    """The decoded bytes of the attachment `filename` in a sent MIME message."""
    import email
    from email.policy import default

    data = raw.encode() if isinstance(raw, str) else raw
    message = email.message_from_bytes(data, policy=default)
    for part in message.walk():
        if part.get_filename() == filename:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError(f"no attachment {filename!r} in the message")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


__all__ = ["wait_for"]
