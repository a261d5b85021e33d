"""OAuth grants as Google keeps them: the thread-safe store of authorization codes, grants,
refresh tokens and access tokens, and every way a token dies.

The records it keeps and the token endpoint's refusals are in `mailroute_sandbox.grant_records`;
they are importable from here too.
"""

from __future__ import annotations

import itertools
import secrets
import threading

from mailroute_sandbox import clock
from mailroute_sandbox.grant_records import (
    DEATH_REASONS,
    EXPIRED_OR_REVOKED,
    AccessToken,
    AuthCode,
    Grant,
    OAuthError,
    pkce_matches,
)
from mailroute_sandbox.scopes import normalise, scope_text

__all__ = [
    "CODE_TTL_SECONDS",
    "DEATH_REASONS",
    "EXPIRED_OR_REVOKED",
    "MAX_REFRESH_TOKENS_PER_CLIENT",
    "AccessToken",
    "AuthCode",
    "Grant",
    "GrantStore",
    "OAuthError",
    "pkce_matches",
]

CODE_TTL_SECONDS = 600.0
MAX_REFRESH_TOKENS_PER_CLIENT = 100


class GrantStore:
    """Thread-safe store of codes, grants and tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._codes: dict[str, AuthCode] = {}
        self._grants: dict[int, Grant] = {}
        self._by_refresh: dict[str, int] = {}
        self._access: dict[str, AccessToken] = {}
        self._consented: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    # -- authorization codes -------------------------------------------------------------------
    def issue_code(self, code: AuthCode) -> str:
        with self._lock:
            self._codes[code.code] = code
        return code.code

    def code_account(self, code: str) -> str | None:
        with self._lock:
            found = self._codes.get(code)
            return found.account if found else None

    def previously_granted(self, account: str, client_id: str) -> tuple[str, ...]:
        with self._lock:
            scopes: list[str] = []
            for grant in self._grants.values():
                if grant.death is None and (grant.account, grant.client_id) == (
                    account.lower(),
                    client_id,
                ):
                    scopes.extend(s for s in grant.scopes if s not in scopes)
            return tuple(scopes)

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> tuple[Grant, AuthCode]:
        with self._lock:
            found = self._codes.get(code)
            if found is None:
                raise OAuthError(400, "invalid_grant", "Malformed auth code.")
            if found.used or clock.now() - found.issued_at > CODE_TTL_SECONDS:
                raise OAuthError(400, "invalid_grant", "Bad Request")
            if found.client_id != client_id:
                raise OAuthError(400, "invalid_grant", "Bad Request")
            if redirect_uri != found.redirect_uri:
                raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
            if found.code_challenge is not None:
                if not verifier:
                    raise OAuthError(400, "invalid_grant", "Missing code verifier.")
                if not pkce_matches(verifier, found.code_challenge, found.challenge_method):
                    raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
            found.used = True
            key = (found.account, client_id)
            refresh = None
            if found.offline and (key not in self._consented or found.prompt_consent):
                # Offline access is consented once; later codes bring a refresh token only
                # when the app forces the consent screen again (prompt=consent).
                refresh = "1//0" + secrets.token_urlsafe(48)
                self._consented.add(key)
            grant = Grant(next(self._ids), found.account, client_id, found.scopes, refresh)
            self._grants[grant.id] = grant
            if refresh is not None:
                self._by_refresh[refresh] = grant.id
                self._enforce_token_limit(found.account, client_id)
            return grant, found

    def limit_refresh_token(self, grant: Grant, lifetime: float) -> None:
        """The grant's refresh token ends `lifetime` seconds after the grant (testing mode)."""
        with self._lock:
            grant.refresh_expires_at = grant.created_at + lifetime

    def _enforce_token_limit(self, account: str, client_id: str) -> None:
        live = [
            g
            for g in self._grants.values()
            if g.account == account
            and g.client_id == client_id
            and g.refresh_token
            and g.death is None
        ]
        for oldest in sorted(live, key=lambda g: g.id)[:-MAX_REFRESH_TOKENS_PER_CLIENT]:
            oldest.death = "token_limit"

    # -- access and refresh tokens -------------------------------------------------------------
    def issue_access_token(self, grant: Grant, scopes: tuple[str, ...], lifetime: float) -> str:
        token = "ya29.a0" + secrets.token_urlsafe(60)
        with self._lock:
            self._access[token] = AccessToken(
                token, grant.id, grant.account, scopes, clock.now() + lifetime
            )
        return token

    def refresh_account(self, refresh_token: str) -> str | None:
        with self._lock:
            grant_id = self._by_refresh.get(refresh_token)
            return self._grants[grant_id].account if grant_id is not None else None

    def grant_for_refresh(
        self, refresh_token: str, client_id: str, scope: str | None
    ) -> tuple[Grant, tuple[str, ...]]:
        """The live grant behind `refresh_token` and the scopes the new access token carries."""
        with self._lock:
            grant_id = self._by_refresh.get(refresh_token)
            if grant_id is None:
                raise OAuthError(400, "invalid_grant", "Bad Request")
            grant = self._grants[grant_id]
            if grant.client_id != client_id:
                raise OAuthError(401, "unauthorized_client", "Unauthorized")
            ends = grant.refresh_expires_at
            if grant.death is None and ends is not None and clock.now() >= ends:
                grant.death = "testing_mode_expired"
            if grant.death is not None:
                error, description = DEATH_REASONS[grant.death]
                raise OAuthError(400, error, description)
            if not scope:
                return grant, grant.scopes
            requested = normalise(scope.split())
            invalid = [s for s in requested if s not in grant.scopes]
            if invalid:
                valid = [s for s in requested if s in grant.scopes]
                raise OAuthError(
                    400,
                    "invalid_scope",
                    "Some requested scopes were invalid. "
                    f"{{valid=[{', '.join(valid)}], invalid=[{', '.join(invalid)}]}}",
                )
            return grant, requested

    def access_token(self, token: str) -> AccessToken | None:
        with self._lock:
            return self._access.get(token)

    # -- ways tokens die -----------------------------------------------------------------------
    def revoke_token(self, token: str) -> bool:
        """Google's /revoke: either token kills every grant of that account for that client."""
        with self._lock:
            grant_id = self._by_refresh.get(token)
            access = self._access.get(token)
            if grant_id is None and access is not None:
                grant_id = access.grant_id
            if grant_id is None:
                return False
            grant = self._grants[grant_id]
            if grant.death is not None or (access is not None and access.revoked):
                return False
            self._kill(grant.account, grant.client_id, "revoked", expire_access=True)
            self._consented.discard((grant.account, grant.client_id))
            return True

    def kill_account_grants(
        self,
        account: str,
        reason: str,
        *,
        expire_access: bool,
        refresh_token: str | None = None,
    ) -> int:
        """Kill the account's grants (or the one holding `refresh_token`) with `reason`."""
        with self._lock:
            if refresh_token is not None:
                grant_id = self._by_refresh.get(refresh_token)
                if grant_id is None:
                    return 0
                grant = self._grants[grant_id]
                grant.death = grant.death or reason
                if expire_access:
                    self._revoke_access({grant.id})
                return 1
            killed = self._kill(account.lower(), None, reason, expire_access=expire_access)
            if reason == "revoked":
                self._consented = {c for c in self._consented if c[0] != account.lower()}
            return killed

    def _kill(
        self, account: str, client_id: str | None, reason: str, *, expire_access: bool
    ) -> int:
        hit = {
            g.id
            for g in self._grants.values()
            if g.account == account
            and (client_id is None or g.client_id == client_id)
            and g.death is None
        }
        for grant_id in hit:
            self._grants[grant_id].death = reason
        if expire_access:
            self._revoke_access(hit)
        return len(hit)

    def _revoke_access(self, grant_ids: set[int]) -> None:
        for access in self._access.values():
            if access.grant_id in grant_ids:
                access.revoked = True

    def expire_access_tokens(self, account: str | None) -> int:
        now = clock.now()
        count = 0
        with self._lock:
            for access in self._access.values():
                if (account is None or access.account == account.lower()) and access.is_live(now):
                    access.expires_at = now - 1
                    count += 1
        return count

    def set_scopes(self, account: str | None, token: str | None, scopes: list[str]) -> int:
        """Replace the granted scopes of an account's grants and tokens, or of one token."""
        wanted = normalise(scopes)
        with self._lock:
            grant_ids: set[int] = set()
            if token is not None:
                if token in self._by_refresh:
                    grant_ids.add(self._by_refresh[token])
                elif token in self._access:
                    self._access[token].scopes = wanted
                    return 1
            else:
                grant_ids = {
                    g.id for g in self._grants.values() if account and g.account == account.lower()
                }
            for grant_id in grant_ids:
                self._grants[grant_id].scopes = wanted
            for access in self._access.values():
                if access.grant_id in grant_ids:
                    access.scopes = wanted
            return len(grant_ids)

    def summary(self, account: str) -> dict[str, object]:
        now = clock.now()
        with self._lock:
            grants = [g for g in self._grants.values() if g.account == account.lower()]
            return {
                "grants": [
                    {
                        "client_id": g.client_id,
                        "scope": scope_text(g.scopes),
                        "has_refresh_token": g.refresh_token is not None,
                        "dead_reason": g.death,
                    }
                    for g in grants
                ],
                "live_access_tokens": sum(
                    1
                    for a in self._access.values()
                    if a.account == account.lower() and a.is_live(now)
                ),
            }
