"""Fixtures for sending through Gmail: a company whose Gmail is connected for real (the sandbox's
consent approved without a browser, the code exchanged with google-auth-oauthlib, the tokens
stored encrypted), the sandbox's full control client, and helpers to publish and read emails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.core.mime import email_id_for
from mailroute.core.records import ConnectionRecord
from mailroute.events import EmailRequested, queues
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany, email_request
from tests.google_sign_in import connect_for_real
from tests.stack import wait_for


@dataclass(frozen=True)
class GmailCompany:
    """A test company with its Gmail connected to a sandbox account of its own."""

    __test__ = False

    company: TestCompany
    account: str
    connection_id: str

    @property
    def id(self) -> str:
        return self.company.id

    def rcpt(self, local: str = "client") -> str:
        return self.company.rcpt(local)


@pytest.fixture
def google(sandbox: SandboxClient, settings: Settings) -> Iterator[GoogleSandbox]:
    """The sandbox's control client; sandbox-wide settings it changes are put back after."""
    with GoogleSandbox(settings.sandbox_base_url) as client:
        before = client.settings()
        yield client
        client.settings(
            access_token_lifetime=before["access_token_lifetime"],
            json_body_limit=before["json_body_limit"],
            gmail_latency_ms=before["gmail_latency_ms"],
        )


@pytest.fixture
def connections(database: Pool, settings: Settings) -> PostgresConnections:
    return PostgresConnections(database, TokenCipher(settings.token_encryption_keys))


@pytest.fixture
def connect_gmail(
    database: Pool, settings: Settings, google: GoogleSandbox, connections: PostgresConnections
) -> Callable[[TestCompany, str], ConnectionRecord]:
    """Sign in with Google for real (non-interactive approve), then store the connection."""
    oauth = GoogleOAuth(settings)

    def connect(company: TestCompany, account: str) -> ConnectionRecord:
        with database.connection() as conn:
            row = conn.execute(
                "SELECT id FROM users WHERE company_id = %s AND email = %s",
                (company.id, company.admin_email),
            ).fetchone()
        assert row is not None
        return connect_for_real(
            oauth,
            google,
            connections,
            company_id=company.id,
            account=account,
            connected_by=str(row["id"]),
        )

    return connect


@pytest.fixture
def make_gmail_company(
    make_company: Any,
    google: GoogleSandbox,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
) -> Callable[[], GmailCompany]:
    def make() -> GmailCompany:
        company: TestCompany = make_company()
        account = f"owner.{company.tag}@acme-sandbox.test"
        google.add_account(account, name=f"Owner {company.tag}")
        record = connect_gmail(company, account)
        return GmailCompany(company=company, account=account, connection_id=record.id)

    return make


@pytest.fixture
def gmail_company(make_gmail_company: Callable[[], GmailCompany]) -> GmailCompany:
    return make_gmail_company()


@pytest.fixture
def publish(broker: Any) -> Callable[..., str]:
    """Put an EmailRequested on the dispatch queue as a producer would; returns the email id."""
    queue = DramatiqQueues(broker)

    def send(company: GmailCompany | TestCompany, **overrides: Any) -> str:
        base = company.company if isinstance(company, GmailCompany) else company
        overrides.setdefault("sender", "gmail")
        event = EmailRequested.parse({**email_request(base, **overrides), "company_id": base.id})
        queue.enqueue(queues.DISPATCH, queues.DISPATCH_EMAIL, (event.to_wire(),))
        return email_id_for(event.company_id, event.event_id)

    return send


@pytest.fixture
def email_row(database: Pool) -> Callable[[str], dict[str, Any] | None]:
    def read(email_id: str) -> dict[str, Any] | None:
        with database.connection() as conn:
            row: dict[str, Any] | None = conn.execute(
                "SELECT * FROM emails WHERE id = %s", (email_id,)
            ).fetchone()
        return row

    return read


@pytest.fixture
def finished(email_row: Callable[[str], dict[str, Any] | None]) -> Callable[..., dict[str, Any]]:
    """Wait until an email is sent or failed; returns its row."""

    def wait(email_id: str, timeout: float = 20.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            row = email_row(email_id)
            return row if row and row["status"] in ("sent", "failed") else None

        result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"email {email_id}")
        return result

    return wait
