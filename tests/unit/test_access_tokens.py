"""When a connection's access token is used, refreshed or force-refreshed, and which refresh
credential is kept: `AccessTokens` over an in-memory store that refreshes as the lease does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from mailroute.adapters.access_tokens import AccessTokens, ConnectionGoneError, TokenStore
from mailroute.core.connection import BrokenReason
from mailroute.core.errors import MailboxAuthBrokenError
from mailroute.core.records import Renewed, TokenSet

CONNECTION, GENERATION = "conn-1", 1


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


class MemoryTokenStore(TokenStore):
    """One connection's tokens; `refresh_once` keeps a token `still_fresh` accepts, else stores
    what `refresh` returns (and the rotated credential with it), as the lease does."""

    def __init__(self, tokens: TokenSet) -> None:
        self.current: TokenSet | None = tokens

    def tokens(self, connection_id: str) -> TokenSet | None:
        return self.current

    def refresh_once(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], Renewed | tuple[str, datetime | None]],
    ) -> TokenSet | None:
        if self.current is None:
            return None
        if still_fresh(self.current):
            return self.current
        access, expires_at, rotated = Renewed(*refresh(self.current))
        self.current = TokenSet(rotated or self.current.refresh_token, access, expires_at)
        return self.current


class Provider:
    """A provider's refresh, recording which credential each call was given."""

    def __init__(self, *, cached: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.cached = cached  # what a non-forced refresh answers from the library's own cache
        self.issued = 0

    def refresh(self, credential: str) -> Renewed:
        self.calls.append(("refresh", credential))
        if self.cached is not None:
            return Renewed(self.cached, _in(400))
        return self._new(credential)

    def forced(self, credential: str) -> Renewed:
        self.calls.append(("forced", credential))
        return self._new(credential)

    def _new(self, credential: str) -> Renewed:
        self.issued += 1
        return Renewed(f"access-{self.issued}", _in(3600), f"{credential}+{self.issued}")


def _tokens(access: str | None, expires_in: float) -> TokenSet:
    return TokenSet("refresh-0", access, _in(expires_in))


def test_a_token_with_more_than_the_margin_left_is_used_without_asking_the_provider() -> None:
    provider = Provider()
    tokens = AccessTokens(MemoryTokenStore(_tokens("stored", 3000)), provider.refresh)

    assert tokens.access_token(CONNECTION, GENERATION) == "stored"
    assert provider.calls == []


def test_a_stale_token_is_refreshed_and_the_rotated_credential_is_used_next_time() -> None:
    store = MemoryTokenStore(_tokens("stale", 60))
    provider = Provider()
    tokens = AccessTokens(store, provider.refresh, forced=provider.forced)

    assert tokens.access_token(CONNECTION, GENERATION) == "access-1"
    assert store.current is not None
    assert store.current.refresh_token == "refresh-0+1"
    assert tokens.refreshed_after(CONNECTION, GENERATION, "access-1") == "access-2"
    assert provider.calls == [("refresh", "refresh-0"), ("forced", "refresh-0+1")]


def test_a_token_the_provider_refused_is_replaced_by_the_forced_refresh() -> None:
    provider = Provider()
    tokens = AccessTokens(
        MemoryTokenStore(_tokens("refused", 3000)), provider.refresh, forced=provider.forced
    )

    assert tokens.refreshed_after(CONNECTION, GENERATION, "refused") == "access-1"
    assert provider.calls == [("forced", "refresh-0")]


def test_without_a_forced_refresh_a_refused_token_is_refreshed_the_ordinary_way() -> None:
    provider = Provider()
    tokens = AccessTokens(MemoryTokenStore(_tokens("refused", 3000)), provider.refresh)

    assert tokens.refreshed_after(CONNECTION, GENERATION, "refused") == "access-1"
    assert provider.calls == [("refresh", "refresh-0")]


def test_a_refresh_answering_the_stale_token_from_its_own_cache_is_forced() -> None:
    # Under the 10 minute margin here, but over the 5 minutes msal keeps a token for.
    store = MemoryTokenStore(_tokens("msal-cached", 400))
    provider = Provider(cached="msal-cached")
    tokens = AccessTokens(
        store, provider.refresh, forced=provider.forced, margin=timedelta(minutes=10)
    )

    assert tokens.access_token(CONNECTION, GENERATION) == "access-1"
    assert provider.calls == [("refresh", "refresh-0"), ("forced", "refresh-0")]
    assert store.current is not None
    assert store.current.refresh_token == "refresh-0+1"


def test_another_callers_new_token_is_taken_instead_of_refreshing_again() -> None:
    provider = Provider()
    tokens = AccessTokens(
        MemoryTokenStore(_tokens("someone-elses", 3000)), provider.refresh, forced=provider.forced
    )

    assert tokens.refreshed_after(CONNECTION, GENERATION, "refused-earlier") == "someone-elses"
    assert provider.calls == []


def test_a_short_lifetime_seen_once_shrinks_the_margin_to_half_of_it() -> None:
    store = MemoryTokenStore(_tokens("stale", 1))
    issued = iter([Renewed("short-1", _in(20)), Renewed("short-2", _in(20))])
    tokens = AccessTokens(store, lambda _credential: next(issued))

    assert tokens.access_token(CONNECTION, GENERATION) == "short-1"
    # 20 s left, under the 3 minute margin but over half the 20 s lifetime: still used.
    assert tokens.access_token(CONNECTION, GENERATION) == "short-1"


def test_a_connection_that_is_gone_breaks_as_unauthorized() -> None:
    store = MemoryTokenStore(_tokens("stale", 1))
    store.current = None
    tokens = AccessTokens(store, Provider().refresh, provider="microsoft")

    with pytest.raises(ConnectionGoneError) as gone:
        tokens.access_token(CONNECTION, GENERATION)

    assert isinstance(gone.value, MailboxAuthBrokenError)
    assert gone.value.reason == BrokenReason.UNAUTHORIZED
    assert "Microsoft 365" in gone.value.message
