"""Live Gmail access tokens: from the encrypted store, cached per process, refreshed rarely.

A token is used as long as it is more than a margin ("a few minutes", never more than half its
lifetime) away from expiry. Only then is it refreshed, under the connection's refresh lease
(`PostgresConnections.refresh_once`): of many threads and processes that find it stale at the
same moment one calls Google, holding no database connection or lock meanwhile, and the others
take the token it stored.

The refresh function raises Google's own errors (google-auth's `RefreshError`); the Gmail
adapter's translator turns them into ours. Tokens are never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.core.connection import BrokenReason
from mailroute.core.errors import GmailAuthBrokenError
from mailroute.core.records import TokenSet

log = structlog.get_logger(__name__)

# refresh token -> (access token, expiry)
RefreshFn = Callable[[str], tuple[str, datetime | None]]
# A token another caller just stored is taken if it has at least this long to live.
MIN_USABLE = timedelta(seconds=2)


class ConnectionGoneError(GmailAuthBrokenError):
    """The connection is not active any more (broken or revoked by someone else meanwhile)."""

    def __init__(self) -> None:
        super().__init__(
            "the Gmail connection is no longer active", reason=BrokenReason.UNAUTHORIZED
        )


def _now() -> datetime:
    return datetime.now(UTC)


class GmailTokens:
    """Access tokens per (connection, generation); safe to share between a process's threads."""

    def __init__(
        self,
        connections: PostgresConnections,
        refresh: RefreshFn,
        *,
        margin: timedelta = timedelta(minutes=3),
    ) -> None:
        self._connections = connections
        self._refresh = refresh
        self._margin = margin
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], TokenSet] = {}
        # Lifetimes seen when this process refreshed, so a short-lived token (a test sandbox,
        # time-limited access) is not refreshed on every use.
        self._lifetimes: dict[str, timedelta] = {}

    def access_token(self, connection_id: str, generation: int) -> str:
        """A token good for at least the margin; refreshes (once, under the lease) if needed."""
        key = (connection_id, generation)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and self._fresh(connection_id, cached):
            return _token(cached)
        stored = self._connections.tokens(connection_id)
        if stored is None:
            raise ConnectionGoneError()
        if self._fresh(connection_id, stored):
            self._remember(key, stored)
            return _token(stored)
        return self._refresh_once(key, stale=stored.access_token)

    def refreshed_after(self, connection_id: str, generation: int, stale: str) -> str:
        """A token other than `stale` (which Gmail refused): another caller's, or a new one."""
        return self._refresh_once((connection_id, generation), stale=stale)

    def _refresh_once(self, key: tuple[str, int], *, stale: str | None) -> str:
        connection_id, generation = key

        def still_fresh(current: TokenSet) -> bool:
            if current.access_token is None:
                return False
            if current.access_token != stale and _remaining(current) > MIN_USABLE:
                return True  # another thread or process refreshed (we waited for its lease)
            return current.access_token != stale and self._fresh(connection_id, current)

        def refresh(current: TokenSet) -> tuple[str, datetime | None]:
            started = _now()
            access, expires_at = self._refresh(current.refresh_token)
            if expires_at is not None:
                with self._lock:
                    self._lifetimes[connection_id] = expires_at - started
            log.info("gmail.token_refreshed", connection_id=connection_id)
            return access, expires_at

        tokens = self._connections.refresh_once(connection_id, generation, still_fresh, refresh)
        if tokens is None or tokens.access_token is None:
            with self._lock:
                self._cache.pop(key, None)
            raise ConnectionGoneError()
        self._remember(key, tokens)
        return tokens.access_token

    def _remember(self, key: tuple[str, int], tokens: TokenSet) -> None:
        with self._lock:
            self._cache[key] = tokens

    def _fresh(self, connection_id: str, tokens: TokenSet) -> bool:
        if tokens.access_token is None:
            return False
        if tokens.access_token_expires_at is None:
            return True  # Google always says; a token without expiry is refreshed on a 401
        with self._lock:
            lifetime = self._lifetimes.get(connection_id)
        margin = self._margin if lifetime is None else min(self._margin, lifetime / 2)
        return _remaining(tokens) > margin


def _remaining(tokens: TokenSet) -> timedelta:
    if tokens.access_token_expires_at is None:
        return timedelta.max
    return tokens.access_token_expires_at - _now()


def _token(tokens: TokenSet) -> str:
    assert tokens.access_token is not None
    return tokens.access_token
