"""Sign in with Microsoft through msal (Microsoft's own library): start the authorization-code
flow, finish it, verify the ID token, and get access tokens for Graph from a connection's
token cache.

msal hides refresh tokens in its token cache, and Microsoft's refresh tokens replace themselves
on every use ("store the new one every time"): each connection keeps one serialized
`SerializableTokenCache`, and `access_token` returns it re-serialized whenever msal changed it,
for the caller to store in the same transaction as the token it uses.

msal checks the state, the PKCE verifier and the ID token's nonce, but not the ID token's
signature: `IdTokenVerifier` checks it against the authority's keys (JWKS), with `iss` (the
tenant filled into the `{tenantid}` template), `aud`, `exp` and the nonce.

Errors go through `errors.translate_token_error` / `msal_errors`. Tokens, codes, verifiers and
caches are never logged and never in a repr.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

import msal
import requests

from mailroute.adapters.microsoft.credential import pack_credential, unpack_credential
from mailroute.adapters.microsoft.errors import (
    CONSENT_MISSING,
    EXPIRED,
    MicrosoftCodeRefusedError,
    MicrosoftGrantRefusedError,
    msal_errors,
    translate_token_error,
)
from mailroute.adapters.microsoft.id_token import IdTokenVerifier, nonce_hash
from mailroute.adapters.microsoft.identity import (
    MAIL_SEND,
    REQUESTED_SCOPES,
    MicrosoftIdentity,
    check_granted,
    has_mail_send,
)
from mailroute.config.microsoft_settings import MicrosoftSettings
from mailroute.core.errors import MicrosoftAuthBrokenError
from mailroute.core.oauth import AuthorizationStart
from mailroute.core.records import Renewed

HTTP_TIMEOUT_SECONDS = 15.0


class TimedSession(requests.Session):
    """A requests session with a timeout on every call (msal passes none), verifying TLS
    against the configured CA file when there is one."""

    def __init__(self, ca_file: str = "", timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self._timeout = timeout
        self._ca_file = ca_file
        if ca_file:
            self.verify = ca_file

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        if self._ca_file:
            # Per call: requests lets REQUESTS_CA_BUNDLE override a session's `verify`.
            kwargs.setdefault("verify", self._ca_file)
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class MicrosoftGrant:
    """A successful sign-in: who, the first access token, and the msal cache to keep."""

    identity: MicrosoftIdentity
    access_token: str = field(repr=False)
    expires_at: datetime | None
    granted_scopes: tuple[str, ...]
    cache: str = field(repr=False)  # msal's serialized token cache (holds the refresh token)
    account_id: str  # msal's home_account_id: finds the account in `cache`

    @property
    def refresh_credential(self) -> str:
        """What the connection stores (encrypted) as its refresh credential."""
        return pack_credential(self.cache, self.account_id)


class AccessToken(NamedTuple):
    """Unpacks as `(access_token, expires_at, new_cache)`; `new_cache` is the re-serialized
    msal cache when it changed (a rotated refresh token: store it), else None."""

    access_token: str
    expires_at: datetime | None
    new_cache: str | None

    def __repr__(self) -> str:
        changed = self.new_cache is not None
        return f"AccessToken(expires_at={self.expires_at!r}, cache_changed={changed})"


def _expires_at(result: dict[str, Any]) -> datetime | None:
    try:
        seconds = int(result["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _scopes(result: dict[str, Any]) -> tuple[str, ...]:
    raw = result.get("scope", "")
    return tuple(raw.split()) if isinstance(raw, str) else tuple(str(s) for s in raw or ())


class MicrosoftOAuth:
    """One per process: the app registration, an HTTP session per thread, the ID token keys."""

    def __init__(self, settings: MicrosoftSettings, *, redirect_uri: str) -> None:
        self._settings = settings
        self._redirect_uri = redirect_uri
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._verifier = IdTokenVerifier(
            settings.authority, settings.client_id, session=self._session
        )

    @property
    def redirect_uri(self) -> str:
        return self._redirect_uri

    def close(self) -> None:
        """Close every thread's HTTP session (at shutdown)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = TimedSession(self._settings.ca_file)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
            # msal's HTTP cache (discovery documents, throttled answers): per thread, so a new
            # application object does not fetch the authority's metadata again.
            self._local.http_cache = {}
        return session

    def _app(self, cache: msal.TokenCache | None = None) -> msal.ConfidentialClientApplication:
        session = self._session()
        with msal_errors("authority discovery"):
            return msal.ConfidentialClientApplication(
                self._settings.client_id,
                client_credential=self._settings.client_secret,
                authority=self._settings.authority,
                http_client=session,
                http_cache=self._local.http_cache,
                token_cache=cache,
                # The sandbox is no authority Microsoft knows: no call to
                # login.microsoftonline.com to ask about it.
                instance_discovery=False if self._settings.uses_sandbox else None,
            )

    def authorization_url(self, state: str, *, login_hint: str | None = None) -> AuthorizationStart:
        """Microsoft's sign-in URL. `code_verifier` holds msal's whole flow (PKCE verifier,
        nonce, state, redirect URI, scopes) as JSON, for `exchange_code`."""
        app = self._app()
        # The answer comes back in the query (a GET callback), not as a form POST: the
        # browser's SameSite=Lax session cookie, which the state is bound to, is not sent on a
        # cross-site POST. The code is single-use, bound to the PKCE verifier and worthless
        # without the client secret. msal warns about every mode but form_post.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow = app.initiate_auth_code_flow(
                list(REQUESTED_SCOPES),
                redirect_uri=self._redirect_uri,
                state=state,
                prompt="select_account",
                login_hint=login_hint,
                response_mode="query",
            )
        return AuthorizationStart(url=str(flow["auth_uri"]), code_verifier=json.dumps(flow))

    def exchange_code(self, code: str, *, state: str, code_verifier: str) -> MicrosoftGrant:
        """Redeem the code with msal's saved flow; verify the ID token and the grant."""
        try:
            flow = json.loads(code_verifier)
        except ValueError as exc:
            raise MicrosoftCodeRefusedError("The saved sign-in is unreadable; start again") from exc
        if not isinstance(flow, dict) or not isinstance(flow.get("nonce"), str):
            raise MicrosoftCodeRefusedError("The saved sign-in is not msal's; start again")
        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        with msal_errors("authorization code", sign_in=True):
            result = app.acquire_token_by_auth_code_flow(flow, {"code": code, "state": state})
        if "error" in result:
            raise translate_token_error(result, operation="code")
        id_token = result.get("id_token")
        if not isinstance(result.get("access_token"), str):
            raise MicrosoftGrantRefusedError(
                "Microsoft returned no access token for Graph", code="access_token_missing"
            )
        if not isinstance(id_token, str):
            raise MicrosoftGrantRefusedError(
                "Microsoft returned no ID token; the account is unknown", code="id_token_missing"
            )
        identity = self._verifier.identity(id_token, nonce=nonce_hash(flow["nonce"]))
        granted = _scopes(result)
        check_granted(granted)
        accounts = app.get_accounts()
        if len(accounts) != 1:
            raise MicrosoftGrantRefusedError(
                "Microsoft's answer named no single account", code="account_unknown"
            )
        return MicrosoftGrant(
            identity=identity,
            access_token=str(result["access_token"]),
            expires_at=_expires_at(result),
            granted_scopes=granted,
            cache=cache.serialize(),
            account_id=str(accounts[0]["home_account_id"]),
        )

    def access_token(
        self, cache: str, account_id: str, *, force_refresh: bool = False
    ) -> AccessToken:
        """A Graph access token from the connection's msal cache: the cached one while it has
        over five minutes left (msal's rule), else a refresh, which rotates the refresh token.
        `force_refresh` after Graph refused a token (401). Raises MicrosoftAuthBrokenError,
        ProviderBusyError / ProviderUnavailableError, ProviderRejectedError."""
        token_cache = msal.SerializableTokenCache()
        try:
            token_cache.deserialize(cache)
        except ValueError as exc:
            raise MicrosoftAuthBrokenError(
                "the stored Microsoft authorization is unreadable", reason=EXPIRED
            ) from exc
        app = self._app(token_cache)
        account = next(
            (a for a in app.get_accounts() if a.get("home_account_id") == account_id), None
        )
        if account is None:
            raise MicrosoftAuthBrokenError(
                "the stored Microsoft authorization holds no such account", reason=EXPIRED
            )
        with msal_errors("token refresh"):
            result = app.acquire_token_silent_with_error(
                [MAIL_SEND], account, force_refresh=force_refresh
            )
        if result is None:
            raise MicrosoftAuthBrokenError(
                "the stored Microsoft authorization holds no refresh token", reason=EXPIRED
            )
        if "error" in result:
            raise translate_token_error(result, operation="refresh")
        granted = _scopes(result)
        if granted and not has_mail_send(granted):
            raise MicrosoftAuthBrokenError(
                "the authorization no longer includes permission to send email",
                reason=CONSENT_MISSING,
            )
        new_cache = token_cache.serialize() if token_cache.has_state_changed else None
        return AccessToken(str(result["access_token"]), _expires_at(result), new_cache)

    def renew(self, credential: str, *, force_refresh: bool = False) -> Renewed:
        """`access_token` for a stored credential (`pack_credential`): the access token, and
        the re-packed credential when msal's cache changed (a rotated refresh token, to be
        stored in the same statement as the access token)."""
        cache, account_id = unpack_credential(credential)
        token = self.access_token(cache, account_id, force_refresh=force_refresh)
        rotated = None if token.new_cache is None else pack_credential(token.new_cache, account_id)
        return Renewed(token.access_token, token.expires_at, rotated)

    def sign_out_url(self, post_logout_redirect_uri: str) -> str:
        """The end-session endpoint's URL: it signs the browser out of Microsoft. It does not
        revoke anything: Microsoft has no token revocation for these apps (revoking sessions
        takes `POST /me/revokeSignInSessions`, a permission mailroute does not ask for), so
        "Revoke Access" deletes the stored cache and tells the admin to remove the app in
        their account's settings (myapps.microsoft.com / account.live.com/consent/Manage)."""
        endpoint = self._verifier.end_session_endpoint()
        query = urlencode({"post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
