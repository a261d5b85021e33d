"""Live access tokens of mailbox connections: from the encrypted store, cached per process,
refreshed rarely. One implementation for every provider (Gmail, Microsoft 365).

A token is used as long as it is more than a margin ("a few minutes", never more than half its
lifetime) away from expiry. Only then is it refreshed, under the connection's refresh lease
(`PostgresConnections.refresh_once`): of many threads and processes that find it stale at the
same moment one calls the provider, holding no database connection or lock meanwhile, and the
others take the token it stored.

The refresh function takes the stored refresh credential (a Google refresh token, a Microsoft
connection's packed msal cache) and returns the new access token, or a `Renewed` that also
carries the rotated credential: a Microsoft refresh token replaces itself on every use, and the
lease stores the new one in the same statement as the access token, so the store always holds
the newest. `forced` is the refresh that never answers from a client library's own cache:
msal hands back the access token it holds while that has five minutes left, which is no help
once the provider refused that very token (a 401). Without `forced`, `refresh` is used.

Refresh functions raise the providers' errors as ours (each adapter's translator). Tokens are
never logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from mailroute.core.connection import BrokenReason
from mailroute.core.errors import MailboxAuthBrokenError
from mailroute.core.providers import provider as registered
from mailroute.core.records import Renewed, TokenSet

log = structlog.get_logger(__name__)

# stored refresh credential -> the access token and its expiry (and a rotated credential)
RefreshFn = Callable[[str], Renewed | tuple[str, datetime | None]]
# A token another caller just stored is taken if it has at least this long to live.
MIN_USABLE = timedelta(seconds=2)


class TokenStore(Protocol):
    """The part of `PostgresConnections` the tokens need."""

    def tokens(self, connection_id: str) -> TokenSet | None: ...

    def refresh_once(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], Renewed | tuple[str, datetime | None]],
    ) -> TokenSet | None: ...


class ConnectionGoneError(MailboxAuthBrokenError):
    """The connection is not active any more (broken or revoked by someone else meanwhile)."""

    def __init__(self, label: str = "mailbox") -> None:
        super().__init__(
            f"the {label} connection is no longer active", reason=BrokenReason.UNAUTHORIZED
        )


def _now() -> datetime:
    return datetime.now(UTC)


class AccessTokens:
    """Access tokens per (connection, generation) of one provider's connections; safe to
    share between a process's threads."""

    def __init__(
        self,
        connections: TokenStore,
        refresh: RefreshFn,
        *,
        forced: RefreshFn | None = None,
        provider: str = "gmail",
        margin: timedelta = timedelta(minutes=3),
    ) -> None:
        self._connections = connections
        self._refresh = refresh
        self._forced = forced
        self._label = registered(provider).label
        self._refreshed_event = provider + ".token_refreshed"
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
            raise ConnectionGoneError(self._label)
        if self._fresh(connection_id, stored):
            self._remember(key, stored)
            return _token(stored)
        return self._refresh_once(key, stale=stored.access_token, force=False)

    def refreshed_after(self, connection_id: str, generation: int, stale: str) -> str:
        """A token other than `stale` (which the provider refused): another caller's, or a new
        one from the forced refresh."""
        return self._refresh_once((connection_id, generation), stale=stale, force=True)

    def _refresh_once(self, key: tuple[str, int], *, stale: str | None, force: bool) -> str:
        connection_id, generation = key

        def still_fresh(current: TokenSet) -> bool:
            if current.access_token is None or current.access_token == stale:
                return False
            if _remaining(current) > MIN_USABLE:
                return True  # another thread or process refreshed (we waited for its lease)
            return self._fresh(connection_id, current)

        def refresh(current: TokenSet) -> Renewed:
            started = _now()
            renewed = self._renew(current, force=force)
            if renewed.expires_at is not None:
                with self._lock:
                    self._lifetimes[connection_id] = renewed.expires_at - started
            log.info(self._refreshed_event, connection_id=connection_id)
            return renewed

        tokens = self._connections.refresh_once(connection_id, generation, still_fresh, refresh)
        if tokens is None or tokens.access_token is None:
            with self._lock:
                self._cache.pop(key, None)
            raise ConnectionGoneError(self._label)
        self._remember(key, tokens)
        return tokens.access_token

    def _renew(self, current: TokenSet, *, force: bool) -> Renewed:
        if force and self._forced is not None:
            return Renewed(*self._forced(current.refresh_token))
        renewed = Renewed(*self._refresh(current.refresh_token))
        if self._forced is None or renewed.access_token != current.access_token:
            return renewed
        # The client library answered from its own cache (msal keeps a token until five
        # minutes before its expiry, longer than a margin may be): a new one is needed.
        again = Renewed(*self._forced(renewed.refresh_token or current.refresh_token))
        return again._replace(refresh_token=again.refresh_token or renewed.refresh_token)

    def _remember(self, key: tuple[str, int], tokens: TokenSet) -> None:
        with self._lock:
            self._cache[key] = tokens

    def _fresh(self, connection_id: str, tokens: TokenSet) -> bool:
        if tokens.access_token is None:
            return False
        if tokens.access_token_expires_at is None:
            return True  # providers say; a token without expiry is refreshed on a 401
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
