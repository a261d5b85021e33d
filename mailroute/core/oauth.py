"""What OAuth sign-in exchanges, as values: the scopes we ask for, the start of a flow, what a
code exchange and a refresh return, a pending authorization. No tokens in any repr."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
SCOPES: tuple[str, ...] = ("openid", "email", GMAIL_SEND)
ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class RefreshedToken(NamedTuple):
    """A new access token; unpacks as `(access_token, expires_at, granted_scopes)`."""

    access_token: str
    expires_at: datetime | None  # aware UTC
    granted_scopes: tuple[str, ...]

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return f"RefreshedToken(expires_at={self.expires_at!r}, scopes={self.granted_scopes!r})"


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    code_verifier: str

    def __repr__(self) -> str:
        return "AuthorizationStart(...)"


@dataclass(frozen=True)
class GoogleIdentity:
    subject: str
    email: str
    email_verified: bool


@dataclass(frozen=True)
class GrantedTokens:
    """What a successful code exchange returned, the ID token already verified."""

    identity: GoogleIdentity
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    granted_scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"GrantedTokens(identity={self.identity!r}, scopes={self.granted_scopes!r})"


def has_send_scope(scopes: Sequence[str]) -> bool:
    """True when the granted scopes allow `users.messages.send` with what we asked for."""
    return GMAIL_SEND in scopes


@dataclass(frozen=True)
class PendingAuthorization:
    nonce: str
    company_id: str
    user_id: str | None
    session_hash: str
    code_verifier: str
    switch_account: bool

    def __repr__(self) -> str:  # the verifier never reaches a log
        return f"PendingAuthorization(company_id={self.company_id!r})"
