"""A token refresh holds no PostgreSQL row lock and no pooled connection while Google answers
(a lease taken and committed before the call), and still happens once across threads."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from mailroute.adapters.access_tokens import AccessTokens
from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.config.settings import Settings
from mailroute.core.errors import ProviderUnavailableError
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import wait_for


@pytest.fixture
def own_pool(settings: Settings) -> Iterator[Pool]:
    """A pool of two connections used by nothing but the tokens under test."""
    pool = make_pool(settings, min_size=1, max_size=2)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


@pytest.fixture
def slow_google(google: GoogleSandbox) -> Iterator[GoogleSandbox]:
    yield google
    google.settings(token_latency_ms=0)


def _tokens(pool: Pool, settings: Settings) -> tuple[PostgresConnections, AccessTokens]:
    store = PostgresConnections(pool, TokenCipher(settings.token_encryption_keys))
    oauth = GoogleOAuth(settings)
    return store, AccessTokens(store, lambda refresh_token: oauth.refresh(refresh_token)[:2])


def _refreshes(google: GoogleSandbox, account: str) -> int:
    return int(google.counters()["token_refreshes"].get(account, 0))


def _lease(database: Pool, connection_id: str) -> dict[str, Any]:
    with database.connection() as conn:
        row: dict[str, Any] = conn.execute(
            "SELECT refresh_lease_owner, refresh_lease_until FROM mailbox_connections"
            " WHERE id = %s",
            (connection_id,),
        ).fetchone()
    return row


def test_while_google_answers_a_refresh_the_row_is_unlocked_and_the_pool_holds_nothing(
    gmail_company: GmailCompany,
    slow_google: GoogleSandbox,
    settings: Settings,
    database: Pool,
    own_pool: Pool,
) -> None:
    store, tokens = _tokens(own_pool, settings)
    record = store.get(gmail_company.connection_id)
    assert record is not None
    stale = store.tokens(record.id).access_token  # type: ignore[union-attr]
    before = _refreshes(slow_google, gmail_company.account)
    slow_google.settings(token_latency_ms=1500)

    with ThreadPoolExecutor(1) as pool:
        refreshing = pool.submit(tokens.refreshed_after, record.id, record.generation, str(stale))
        wait_for(
            lambda: _lease(database, record.id)["refresh_lease_owner"],
            timeout=5,
            what="the refresh to take its lease",
        )
        stats = own_pool.get_stats()
        with psycopg.connect(settings.database_url, autocommit=True) as other:
            locked = other.execute(
                "SELECT id FROM mailbox_connections WHERE id = %s FOR UPDATE NOWAIT", (record.id,)
            ).fetchone()
        asked_meanwhile = _refreshes(slow_google, gmail_company.account)
        fresh = refreshing.result(timeout=15)

    assert locked is not None, "no row lock is held across Google's call"
    assert stats["pool_available"] == stats["pool_size"], "every pooled connection is free"
    assert stats.get("requests_waiting", 0) == 0
    assert asked_meanwhile == before, "Google had not answered yet"
    assert fresh != stale
    assert _refreshes(slow_google, gmail_company.account) == before + 1
    assert store.tokens(record.id).access_token == fresh  # type: ignore[union-attr]
    assert _lease(database, record.id)["refresh_lease_owner"] is None


def test_threads_that_find_a_refresh_under_way_take_its_token_and_google_is_asked_once(
    gmail_company: GmailCompany,
    slow_google: GoogleSandbox,
    settings: Settings,
    own_pool: Pool,
) -> None:
    store, tokens = _tokens(own_pool, settings)
    record = store.get(gmail_company.connection_id)
    assert record is not None
    stale = str(store.tokens(record.id).access_token)  # type: ignore[union-attr]
    before = _refreshes(slow_google, gmail_company.account)
    slow_google.settings(token_latency_ms=800)

    with ThreadPoolExecutor(8) as pool:
        calls = [
            pool.submit(tokens.refreshed_after, record.id, record.generation, stale)
            for _ in range(8)
        ]
        fresh = {call.result(timeout=20) for call in calls}

    assert len(fresh) == 1
    assert stale not in fresh
    assert _refreshes(slow_google, gmail_company.account) == before + 1


def test_a_refresh_google_failed_releases_its_lease_and_the_next_caller_refreshes(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    settings: Settings,
    database: Pool,
    own_pool: Pool,
) -> None:
    store, tokens = _tokens(own_pool, settings)
    record = store.get(gmail_company.connection_id)
    assert record is not None
    stale = str(store.tokens(record.id).access_token)  # type: ignore[union-attr]
    google.add_fault(503, target="token", account=gmail_company.account, persistent=True)

    with pytest.raises(ProviderUnavailableError):
        tokens.refreshed_after(record.id, record.generation, stale)
    released = _lease(database, record.id)
    google.clear_faults(gmail_company.account)
    fresh = tokens.refreshed_after(record.id, record.generation, stale)

    assert released["refresh_lease_owner"] is None
    assert fresh != stale
