"""The ports of the Gmail connection's use cases (sign in, check, revoke): the connections
store, pending authorizations, and the OAuth provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from mailroute.core.oauth import (
    AuthorizationStart,
    GrantedTokens,
    PendingAuthorization,
    RefreshedToken,
)
from mailroute.core.ports import ConnectionBreaks
from mailroute.core.records import ConnectionRecord, TokenSet


class ConnectionStore(ConnectionBreaks, Protocol):
    """Gmail connections: the transitions write their own events to the outbox and return
    their outbox ids; tokens are encrypted at rest and read only through `tokens`."""

    def for_company(self, company_id: str) -> ConnectionRecord | None: ...

    def connect(
        self,
        company_id: str,
        *,
        address: str,
        google_subject: str,
        refresh_token: str,
        access_token: str,
        access_token_expires_at: datetime | None,
        scopes: Sequence[str],
        connected_by: str | None,
    ) -> tuple[ConnectionRecord, list[int]]: ...

    def revoke(self, company_id: str) -> tuple[ConnectionRecord | None, list[int]]: ...

    def tokens(self, connection_id: str) -> TokenSet | None: ...

    def refresh_under_lock(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], tuple[str, datetime | None]],
    ) -> TokenSet | None: ...


class AuthorizationStates(Protocol):
    """Pending "Sign in with Google" flows: saved at the start, consumed once at the callback."""

    def save(
        self,
        nonce: str,
        *,
        company_id: str,
        user_id: str | None,
        session_hash: str,
        code_verifier: str,
        switch_account: bool,
        ttl: timedelta,
    ) -> None: ...

    def consume(self, nonce: str, company_id: str) -> PendingAuthorization | None: ...


class OAuthProvider(Protocol):
    def authorization_url(
        self, state: str, *, login_hint: str | None = None
    ) -> AuthorizationStart: ...

    def exchange_code(self, code: str, *, state: str, code_verifier: str) -> GrantedTokens: ...

    def refresh(self, refresh_token: str) -> RefreshedToken: ...

    def revoke(self, token: str) -> bool: ...
