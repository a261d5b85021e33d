"""Google's OAuth endpoints, through google-auth and google-auth-oauthlib: start the
authorization-code flow, finish it, verify the ID token, refresh, revoke.

Every endpoint comes from settings (the sandbox when no client credentials are configured).
Vendor errors go through one translator (`google_oauth_errors.google_errors`) into mailroute's
error tree: `GmailAuthBrokenError`, `ProviderBusyError` / `ProviderUnavailableError`,
`ProviderRejectedError`, `CodeExchangeError`, `IdentityRejectedError`.

Tokens, codes, verifiers and states are never logged.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport
import requests
import structlog
from google.oauth2 import id_token as google_id_token
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow

from mailroute.adapters.google.errors import (
    CodeExchangeError,
    IdentityRejectedError,
    google_errors,
)
from mailroute.adapters.google.token_hint import HINT, HintReadingRequest
from mailroute.adapters.google.transport import (
    HTTP_TIMEOUT_SECONDS,
    CertCache,
    CertsTransport,
    TimedRequest,
)
from mailroute.config.settings import Settings
from mailroute.core.errors import ProviderUnavailableError
from mailroute.core.expiry import expires_at_from_hint
from mailroute.core.oauth import (
    GMAIL_SEND,
    ISSUERS,
    SCOPES,
    AuthorizationStart,
    GoogleIdentity,
    GrantedTokens,
    RefreshedToken,
    has_send_scope,
)

__all__ = [
    "CodeExchangeError",
    "GoogleOAuth",
    "IdentityRejectedError",
    "RefreshedToken",
    "google_errors",
    "has_send_scope",
]

log = structlog.get_logger(__name__)


def _aware(expiry: datetime | None) -> datetime | None:
    """google-auth keeps expiry as naive UTC; mailroute speaks aware UTC."""
    if expiry is None:
        return None
    return expiry.replace(tzinfo=UTC) if expiry.tzinfo is None else expiry


class GoogleOAuth:
    """One per process: holds the settings, the certificate cache and an HTTP session."""

    def __init__(self, settings: Settings, *, redirect_uri: str | None = None) -> None:
        self._settings = settings
        self._client_id = settings.oauth_client_id
        self._client_secret = settings.oauth_client_secret
        self._auth_uri = settings.google_endpoint("auth_uri")
        self._token_uri = settings.google_endpoint("token_uri")
        self._revoke_uri = settings.google_endpoint("revoke_uri")
        self._redirect_uri = redirect_uri or (
            settings.public_base_url.rstrip("/") + "/oauth/google/callback"
        )
        self._certs = CertCache(settings.google_endpoint("certs_uri"))
        self._issuers = ISSUERS | {settings.google_issuer}
        self._local = threading.local()
        # Granular consent changes the granted scope; oauthlib must not raise on it (§0.4).
        os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # noqa: S105 - a switch, not a secret
        if urlsplit(self._token_uri).scheme == "http" or urlsplit(self._auth_uri).scheme == "http":
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the sandbox speaks plain HTTP

    @property
    def redirect_uri(self) -> str:
        return self._redirect_uri

    def _transport(self) -> google.auth.transport.Request:
        request: google.auth.transport.Request | None = getattr(self._local, "request", None)
        if request is None:
            request = TimedRequest(requests.Session())
            self._local.request = request
        return request

    def _flow(self, *, state: str | None = None, code_verifier: str | None = None) -> Flow:
        config = {
            "web": {
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "auth_uri": self._auth_uri,
                "token_uri": self._token_uri,
                "redirect_uris": [self._redirect_uri],
            }
        }
        return Flow.from_client_config(
            config,
            scopes=list(SCOPES),
            redirect_uri=self._redirect_uri,
            state=state,
            code_verifier=code_verifier,
            autogenerate_code_verifier=code_verifier is None,
        )

    def authorization_url(self, state: str, *, login_hint: str | None = None) -> AuthorizationStart:
        """Google's consent URL: offline access, consent every time, PKCE S256, our `state`."""
        flow = self._flow()
        extra: dict[str, str] = {"login_hint": login_hint} if login_hint else {}
        url, _ = flow.authorization_url(
            state=state, access_type="offline", prompt="consent", **extra
        )
        verifier = flow.code_verifier
        assert isinstance(verifier, str)
        return AuthorizationStart(url=str(url), code_verifier=verifier)

    def exchange_code(self, code: str, *, state: str, code_verifier: str) -> GrantedTokens:
        """Redeem the code with the saved PKCE verifier; verify the ID token."""
        flow = self._flow(state=state, code_verifier=code_verifier)
        with google_errors("authorization code"):
            token: dict[str, Any] = flow.fetch_token(code=code, timeout=HTTP_TIMEOUT_SECONDS)
        credentials = flow.credentials
        raw_scope = token.get("scope", "")
        granted = tuple(raw_scope.split()) if isinstance(raw_scope, str) else tuple(raw_scope or ())
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise IdentityRejectedError("Google returned no ID token; the email is unknown")
        identity = self.verify_id_token(id_token)
        return GrantedTokens(
            identity=identity,
            access_token=str(credentials.token),
            refresh_token=credentials.refresh_token,
            expires_at=_aware(credentials.expiry),
            granted_scopes=granted,
            refresh_expires_at=expires_at_from_hint(token.get(HINT), now=datetime.now(UTC)),
        )

    def verify_id_token(self, id_token: str) -> GoogleIdentity:
        """Signature (cached certs), audience, expiry, issuer; returns who signed in."""
        claims: Mapping[str, Any] | None = None
        last: Exception | None = None
        for force in (False, True):  # once more with fresh certs if Google rotated its keys
            try:
                with google_errors("ID token certificates"):
                    claims = google_id_token.verify_token(
                        id_token,
                        CertsTransport(self._certs, self._transport(), force=force),
                        audience=self._client_id,
                        certs_url=self._certs.url,
                        clock_skew_in_seconds=10,
                    )
                break
            except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
                last = exc
        if claims is None:
            raise IdentityRejectedError(f"the ID token is not valid: {last}") from last
        if claims.get("iss") not in self._issuers:
            raise IdentityRejectedError("the ID token was issued by someone other than Google")
        email, subject = claims.get("email"), claims.get("sub")
        if not isinstance(email, str) or not email or not isinstance(subject, str):
            raise IdentityRejectedError("the ID token carries no email address")
        verified = claims.get("email_verified") in (True, "true")
        return GoogleIdentity(subject=subject, email=email, email_verified=verified)

    def refresh(self, refresh_token: str) -> RefreshedToken:
        """A new access token for `refresh_token`, asking for gmail.send only.

        Raises `GmailAuthBrokenError` (invalid_grant, admin policy, send scope gone),
        `ProviderBusyError` / `ProviderUnavailableError` (transient), `ProviderRejectedError`
        (mailroute's client is misconfigured).
        """
        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token,
            token_uri=self._token_uri,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scopes=[GMAIL_SEND],
        )
        request = HintReadingRequest(self._transport())
        with google_errors("token refresh"):
            credentials.refresh(request)  # type: ignore[no-untyped-call]
        # Google answers invalid_scope when gmail.send is gone; a 200 without `scope` granted it.
        granted = tuple(credentials.granted_scopes or (GMAIL_SEND,))
        ends = expires_at_from_hint(request.hint, now=datetime.now(UTC))
        return RefreshedToken(str(credentials.token), _aware(credentials.expiry), granted, ends)

    def revoke(self, token: str) -> bool:
        """Ask Google to forget the grant. True when it is gone (200, or 400 invalid_token:
        already dead); False when Google said something else. Raises ProviderUnavailableError
        when Google cannot be reached."""
        with google_errors("revocation"):
            response = requests.post(
                self._revoke_uri,
                data={"token": token},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        if response.status_code == 200:
            return True
        if response.status_code >= 500:
            raise ProviderUnavailableError(
                f"Google's revoke endpoint answered {response.status_code}",
                code="google_unavailable",
            )
        try:
            error = json.loads(response.content or b"{}").get("error")
        except ValueError:
            error = None
        if response.status_code == 400 and error == "invalid_token":
            return True
        log.warning("google.revoke_refused", status=response.status_code, error=error)
        return False
