"""Fixtures for pacing: the Gmail sending fixtures (a company whose Gmail is connected for real
through the sandbox, publishing, reading rows), plus a bare connection row for tests that only
exercise the shared pacing state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pacing import PostgresPacing
from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany
from tests.integration.gmail_sending.conftest import (  # noqa: F401 - fixtures shared as-is
    GmailCompany,
    connect_gmail,
    connections,
    email_row,
    finished,
    gmail_company,
    google,
    make_gmail_company,
    publish,
)

__all__ = ["GmailCompany"]


@pytest.fixture
def pacing(database: Pool) -> PostgresPacing:
    return PostgresPacing(database)


@pytest.fixture
def make_connection(
    make_company: Callable[[], TestCompany],
    connections: PostgresConnections,  # noqa: F811 - the imported fixture, requested
) -> Callable[[], str]:
    """A company with an active Gmail connection row (tokens that are never used); its id."""

    def make() -> str:
        company = make_company()
        record, _ = connections.connect(
            company.id,
            address=f"pacing.{company.tag}@acme-sandbox.test",
            google_subject=uuid.uuid4().hex,
            refresh_token="unused-refresh-token",
            access_token="unused-access-token",
            access_token_expires_at=None,
            scopes=["https://www.googleapis.com/auth/gmail.send"],
            connected_by=None,
        )
        return record.id

    return make


@pytest.fixture
def make_email(database: Pool) -> Callable[[str], str]:
    """A stored email row of the connection's company (only its id and slot matter here)."""

    def make(connection_id: str) -> str:
        email_id = str(uuid.uuid4())
        with database.connection() as conn:
            row: dict[str, Any] | None = conn.execute(
                "SELECT company_id FROM mailbox_connections WHERE id = %s", (connection_id,)
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO emails (id, company_id, event_id, kind, sender_choice, status, route,"
                " subject, message_id) VALUES (%s, %s, %s, 'invoice', 'gmail', 'sending',"
                " 'gmail', 'Invoice', %s)",
                (email_id, row["company_id"], f"evt-{email_id}", f"<{email_id}@test>"),
            )
        return email_id

    return make
