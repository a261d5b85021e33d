"""The ports of the Gmail connection's use cases (sign in, check, revoke): the connections
store, pending authorizations, revocations Google has not confirmed yet, and the OAuth
provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from mailroute.core.oauth import (
    AuthorizationStart,
    GrantedTokens,
    PendingAuthorization,
    RefreshedToken,
)
from mailroute.core.ports import ConnectionBreaks
from mailroute.core.records import ConnectionRecord, Renewed, RenewedUntil, TokenSet

RevocationReason = Literal["revoke_access", "superseded", "refused_grant"]


class ConnectionStore(ConnectionBreaks, Protocol):
    """Gmail connections: the transitions write their own events to the outbox and return
    their outbox ids; tokens are encrypted at rest and read only through `tokens`.

    `connect` to another Google account than the connected one, and `revoke`, move the refresh
    token they replace (still encrypted) to the pending revocations, in the same transaction:
    Google is asked to forget it by `PendingRevocations.claim_new` / `claim_due`."""

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
        refresh_expires_at: datetime | None = None,
    ) -> tuple[ConnectionRecord, list[int]]: ...

    def revoke(
        self, company_id: str, *, reason: RevocationReason = "revoke_access"
    ) -> tuple[ConnectionRecord | None, list[int]]: ...

    def tokens(self, connection_id: str) -> TokenSet | None: ...

    def refresh_once(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], Renewed | RenewedUntil | tuple[str, datetime | None]],
    ) -> TokenSet | None:
        """Refresh the access token at most once across threads and processes, holding no
        database connection or row lock while `refresh` calls the provider, storing the
        rotated refresh credential when `refresh` returns one; None when the connection is
        not active (for this generation) any more."""
        ...


@dataclass(frozen=True)
class RevocationAttempt:
    """A pending revocation claimed for one attempt (leased: nobody else attempts it now)."""

    id: int
    company_id: str | None
    address: str | None
    reason: str
    attempts: int  # this one included
    token: str | None  # None: no configured key decrypts it (yet)
    cancelled: bool = False  # dropped unasked: the Google account is connected again

    def __repr__(self) -> str:  # the token never reaches a log
        return f"RevocationAttempt(id={self.id}, reason={self.reason!r})"


class PendingRevocations(Protocol):
    """Grants mailroute no longer keeps, until Google confirms it forgot them. Tokens stay
    encrypted; a revocation whose Google account is connected again is dropped unasked
    (Google revokes per account and app: asking would end that connection too)."""

    def queue(
        self,
        token: str,
        *,
        company_id: str,
        google_subject: str,
        address: str,
        reason: RevocationReason,
    ) -> None: ...

    def claim_new(self, company_id: str) -> list[RevocationAttempt]:
        """This company's revocations never attempted yet (the requester's own attempt)."""
        ...

    def claim_due(self, limit: int) -> list[RevocationAttempt]:
        """Revocations whose next attempt is due (the clock's retries)."""
        ...

    def confirmed(self, revocation_id: int) -> None:
        """Google forgot the grant: the token is deleted."""
        ...

    def failed(self, revocation_id: int, *, error: str, retry_at: datetime) -> None: ...


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


class MailboxIdentity(Protocol):
    """Who signed in to a Microsoft account: `subject` (stable across sign-ins, `<oid>.<tid>`)
    recognises a re-authorization by another account; `email` is the address mail goes From."""

    @property
    def subject(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def personal(self) -> bool:
        """A personal Microsoft account (outlook.com), not a work or school one."""
        ...


class MicrosoftSignIn(Protocol):
    """A redeemed Microsoft authorization code: the account, its first access token, and the
    refresh credential to store (msal's whole serialized token cache, encrypted at rest)."""

    @property
    def identity(self) -> MailboxIdentity: ...
    @property
    def access_token(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def granted_scopes(self) -> tuple[str, ...]: ...
    @property
    def refresh_credential(self) -> str: ...


class MicrosoftOAuthProvider(Protocol):
    """Sign in with Microsoft (msal): `code_verifier` of the start holds msal's whole flow;
    `renew` answers the rotated credential whenever Microsoft replaced the refresh token.
    Microsoft offers these apps no revocation: `sign_out_url` only ends the browser's session."""

    def authorization_url(
        self, state: str, *, login_hint: str | None = None
    ) -> AuthorizationStart: ...

    def exchange_code(self, code: str, *, state: str, code_verifier: str) -> MicrosoftSignIn: ...

    def renew(self, credential: str, *, force_refresh: bool = False) -> Renewed: ...

    def sign_out_url(self, post_logout_redirect_uri: str) -> str: ...
