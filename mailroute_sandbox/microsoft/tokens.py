"""What the identity platform keeps: authorization codes, grants, rotating refresh tokens and
access tokens, thread-safe, and every way they die.

A grant is one account's consent to the client for some scopes (one per code exchange). Each
refresh returns a new refresh token; the old one stays usable (as Microsoft's do) unless
`invalidate_rotated` is asked, when it answers AADSTS50173. An invalidated account's grants
answer the reason's AADSTS code and its access tokens stop working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import threading
from dataclasses import dataclass, field

from mailroute_sandbox import clock
from mailroute_sandbox.microsoft import errors
from mailroute_sandbox.microsoft.errors import IdentityError

CODE_TTL_SECONDS = 600.0


@dataclass
class MsAuthCode:
    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    account: str
    scopes: tuple[str, ...]
    code_challenge: str = field(repr=False)
    nonce: str | None = field(repr=False)
    issued_at: float = field(default_factory=clock.now)
    used: bool = False


@dataclass
class MsGrant:
    id: int
    account: str
    client_id: str
    scopes: tuple[str, ...]
    nonce: str | None = None
    death: str | None = None  # an `errors.INVALIDATION` reason


@dataclass
class RefreshRecord:
    token: str = field(repr=False)
    grant_id: int
    issued_at: float = field(default_factory=clock.now)
    replaced: bool = False


@dataclass
class MsAccessToken:
    token: str = field(repr=False)
    grant_id: int = 0
    account: str = ""
    scopes: tuple[str, ...] = ()
    expires_at: float = 0.0
    revoked: bool = False

    def is_live(self, at: float) -> bool:
        return not self.revoked and at < self.expires_at


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _opaque(prefix: str, size: int) -> str:
    return prefix + secrets.token_urlsafe(size)


class MsTokenStore:
    """Thread-safe store of codes, grants, refresh and access tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._codes: dict[str, MsAuthCode] = {}
        self._grants: dict[int, MsGrant] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._access: dict[str, MsAccessToken] = {}
        self._ids = itertools.count(1)

    def issue_code(self, code: MsAuthCode) -> str:
        with self._lock:
            self._codes[code.code] = code
        return code.code

    @staticmethod
    def new_code_value() -> str:
        return _opaque("M.C5_BAY.2.U.", 48)

    def account_of(self, *, code: str = "", refresh_token: str = "") -> str | None:
        with self._lock:
            if code in self._codes:
                return self._codes[code].account
            record = self._refresh.get(refresh_token)
            return self._grants[record.grant_id].account if record else None

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str, verifier: str
    ) -> tuple[MsGrant, str]:
        """Exchange a code: the new grant and its first refresh token."""
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.client_id != client_id:
                raise IdentityError(errors.MALFORMED)
            if found.used:
                raise IdentityError(errors.CODE_REDEEMED)
            if clock.now() - found.issued_at > CODE_TTL_SECONDS:
                raise IdentityError(errors.CODE_EXPIRED)
            if redirect_uri != found.redirect_uri:
                raise IdentityError(errors.REDIRECT_MISMATCH)
            if not verifier or not hmac.compare_digest(s256(verifier), found.code_challenge):
                raise IdentityError(errors.BAD_VERIFIER)
            found.used = True
            grant = MsGrant(next(self._ids), found.account, client_id, found.scopes, found.nonce)
            self._grants[grant.id] = grant
            return grant, self._new_refresh(grant)

    def _new_refresh(self, grant: MsGrant) -> str:
        token = _opaque("M.C5_BAY.0.U.-", 200)
        self._refresh[token] = RefreshRecord(token, grant.id)
        return token

    def rotate(
        self, token: str, client_id: str, *, lifetime: float, invalidate_rotated: bool
    ) -> tuple[MsGrant, str]:
        """Use a refresh token: its grant and the new refresh token that replaces it."""
        with self._lock:
            record = self._refresh.get(token)
            if record is None:
                raise IdentityError(errors.MALFORMED)
            grant = self._grants[record.grant_id]
            if grant.client_id != client_id:
                raise IdentityError(errors.MALFORMED)
            if grant.death is not None:
                raise IdentityError(errors.INVALIDATION[grant.death])
            if record.replaced and invalidate_rotated:
                raise IdentityError(errors.ROTATED)
            if clock.now() - record.issued_at > lifetime:
                raise IdentityError(errors.INVALIDATION["inactive"])
            record.replaced = True
            return grant, self._new_refresh(grant)

    def refresh_issued_at(self, token: str) -> float | None:
        with self._lock:
            record = self._refresh.get(token)
            return record.issued_at if record else None

    def issue_access_token(self, grant: MsGrant, scopes: tuple[str, ...], lifetime: float) -> str:
        token = _opaque("EwBIBMl6BAAU", 120)
        with self._lock:
            self._access[token] = MsAccessToken(
                token, grant.id, grant.account, scopes, clock.now() + lifetime
            )
        return token

    def access_token(self, token: str) -> MsAccessToken | None:
        with self._lock:
            return self._access.get(token)

    def invalidate(self, account: str, reason: str) -> int:
        """Kill every live grant of the account with `reason`; its access tokens die too."""
        with self._lock:
            hit = {
                g.id for g in self._grants.values() if g.account == account.lower() and not g.death
            }
            for grant_id in hit:
                self._grants[grant_id].death = reason
            for access in self._access.values():
                if access.grant_id in hit:
                    access.revoked = True
            return len(hit)

    def expire_access_tokens(self, account: str | None) -> int:
        now = clock.now()
        count = 0
        with self._lock:
            for access in self._access.values():
                if (account is None or access.account == account.lower()) and access.is_live(now):
                    access.expires_at = now - 1
                    count += 1
        return count

    def refresh_tokens(self, account: str) -> list[dict[str, object]]:
        """The account's refresh tokens, oldest first, with whether each was replaced."""
        with self._lock:
            return [
                {"token": r.token, "replaced": r.replaced, "dead": self._grants[r.grant_id].death}
                for r in self._refresh.values()
                if self._grants[r.grant_id].account == account.lower()
            ]
