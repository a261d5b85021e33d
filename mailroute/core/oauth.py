"""What OAuth sign-in exchanges, as values: the scopes we ask for (and no more), the start of a
flow, what a code exchange and a refresh return, a pending authorization, the address an ID
token's email becomes. No tokens in any repr."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email

GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
SCOPES: tuple[str, ...] = ("openid", "email", GMAIL_SEND)
# What a grant of SCOPES may hold: Google answers `email` as userinfo.email. A grant holding
# anything else gives mailroute more than it asked for, and is refused (least privilege).
ASKED_SCOPES = frozenset({*SCOPES, USERINFO_EMAIL})
ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class RefreshedToken(NamedTuple):
    """A new access token; unpacks as `(access_token, expires_at, granted_scopes,
    refresh_expires_at)`."""

    access_token: str
    expires_at: datetime | None  # aware UTC
    granted_scopes: tuple[str, ...]
    # When the refresh token ends, as the answer announced it (`refresh_token_expires_in`).
    refresh_expires_at: datetime | None = None

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
    # When the refresh token ends, as Google announced it (`refresh_token_expires_in`: a
    # project in testing mode, time-based access); None when no end was announced.
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"GrantedTokens(identity={self.identity!r}, scopes={self.granted_scopes!r})"


def has_send_scope(scopes: Sequence[str]) -> bool:
    """True when the granted scopes allow `users.messages.send` with what we asked for."""
    return GMAIL_SEND in scopes


def excess_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """The granted scopes mailroute did not ask for (empty for a least-privilege grant)."""
    return tuple(scope for scope in scopes if scope not in ASKED_SCOPES)


def sender_address(claimed: str) -> str | None:
    """The ID token's `email` as the address mailroute sends From (the domain normalised,
    IDNA-encoded), or None when it is not one plain address: a display name, a quoted or
    non-ASCII local part, spaces, control characters or anything email_validator refuses."""
    if not claimed or claimed != claimed.strip() or any(c.isspace() for c in claimed):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in '<>"' for c in claimed):
        return None
    try:
        checked = validate_email(
            claimed, check_deliverability=False, test_environment=True, allow_smtputf8=False
        )
    except EmailNotValidError:
        return None
    return checked.ascii_email or checked.normalized


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
