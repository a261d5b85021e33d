"""What Google keeps for a consent, and how its token endpoint refuses.

An `AuthCode` is what the consent screen issued; a `Grant` is what one code exchange created: an
account's consent to a client for some scopes, with at most one refresh token. `AccessToken`s
hang off a grant. A killed grant keeps the reason (the user revoked, a password change, an admin
policy, ...) so that the token endpoint answers with Google's exact `error` /
`error_description` (`DEATH_REASONS`, raised as `OAuthError`). `GrantStore` in
`mailroute_sandbox.grants` keeps them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from mailroute_sandbox import clock

EXPIRED_OR_REVOKED = "Token has been expired or revoked."

# reason -> (error, error_description) at the token endpoint
DEATH_REASONS: dict[str, tuple[str, str]] = {
    "expired_or_revoked": ("invalid_grant", EXPIRED_OR_REVOKED),
    "revoked": ("invalid_grant", EXPIRED_OR_REVOKED),
    "password_changed": ("invalid_grant", EXPIRED_OR_REVOKED),
    "testing_mode_expired": ("invalid_grant", EXPIRED_OR_REVOKED),
    "idle_six_months": ("invalid_grant", EXPIRED_OR_REVOKED),
    "token_limit": ("invalid_grant", EXPIRED_OR_REVOKED),
    "account_deleted": ("invalid_grant", "Account has been deleted"),
    "admin_policy": ("admin_policy_enforced", "Access blocked by organization policy"),
}


class OAuthError(Exception):
    """A token-endpoint refusal: HTTP status plus Google's `error` and `error_description`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    account: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    challenge_method: str
    offline: bool
    prompt_consent: bool
    nonce: str | None
    issued_at: float = field(default_factory=clock.now)
    used: bool = False


@dataclass
class Grant:
    id: int
    account: str
    client_id: str
    scopes: tuple[str, ...]
    refresh_token: str | None
    created_at: float = field(default_factory=clock.now)
    death: str | None = None
    # When its refresh token ends (a project in testing mode); None: it lives until it dies.
    refresh_expires_at: float | None = None

    def refresh_expires_in(self, at: float) -> int | None:
        """Google's `refresh_token_expires_in`: whole seconds left, None without an end."""
        if self.refresh_expires_at is None:
            return None
        return max(0, int(self.refresh_expires_at - at))


@dataclass
class AccessToken:
    token: str
    grant_id: int
    account: str
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool = False

    def is_live(self, at: float) -> bool:
        return not self.revoked and at < self.expires_at


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        expected = verifier
    return hmac.compare_digest(expected, challenge)
