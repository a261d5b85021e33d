"""A company connects at most one mailbox per provider: its Gmail and its Microsoft connections
are two rows with lives of their own, each store reading and changing only its provider's."""

from __future__ import annotations

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from tests.conftest import TestCompany


def _store(database: Pool, settings: Settings, provider: str) -> PostgresConnections:
    return PostgresConnections(database, TokenCipher(settings.token_encryption_keys), provider)


def _connect(store: PostgresConnections, company: TestCompany, address: str) -> None:
    store.connect(
        company.id,
        address=address,
        google_subject=f"sub-{address}",
        refresh_token=f"refresh-{address}",
        access_token=f"access-{address}",
        access_token_expires_at=None,
        scopes=["scope"],
        connected_by=None,
    )


def test_gmail_and_microsoft_connections_of_one_company_live_apart(
    database: Pool, settings: Settings, company: TestCompany
) -> None:
    gmail = _store(database, settings, "gmail")
    microsoft = _store(database, settings, "microsoft")
    _connect(gmail, company, "owner@acme.example")
    _connect(microsoft, company, "owner@acme.onmicrosoft.example")
    _connect(microsoft, company, "owner@acme.onmicrosoft.example")  # re-authorized

    gmail_record = gmail.for_company(company.id)
    microsoft_record = microsoft.for_company(company.id)
    assert gmail_record is not None
    assert microsoft_record is not None
    assert gmail_record.id != microsoft_record.id
    assert (gmail_record.address, gmail_record.generation) == ("owner@acme.example", 1)
    assert microsoft_record.generation == 2
    tokens = microsoft.tokens(microsoft_record.id)
    assert tokens is not None
    assert tokens.refresh_token == "refresh-owner@acme.onmicrosoft.example"

    microsoft.revoke(company.id)

    after_revoke = microsoft.for_company(company.id)
    assert after_revoke is not None
    assert after_revoke.state == "disconnected"
    assert gmail.for_company(company.id) == gmail_record
    assert company.id in {c.company_id for c in gmail.active()}
    assert company.id not in {c.company_id for c in microsoft.active()}


def test_revoking_a_microsoft_connection_queues_nothing_for_google(
    database: Pool, settings: Settings, company: TestCompany
) -> None:
    microsoft = _store(database, settings, "microsoft")
    _connect(microsoft, company, "owner@acme.onmicrosoft.example")

    microsoft.revoke(company.id)

    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM pending_revocations WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert row is not None
    assert row["n"] == 0
