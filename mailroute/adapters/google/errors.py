"""How Google's OAuth errors become mailroute's: one translator (`google_errors`) for
google-auth, oauthlib and requests exceptions.

    MailrouteError
    ├── GmailAuthBrokenError        refresh: invalid_grant / admin_policy_enforced / invalid_scope
    ├── TransientError
    │   ├── ProviderBusyError       Google's token endpoint answered 429
    │   └── ProviderUnavailableError 5xx, timeouts, refused connections
    └── PermanentError
        ├── ProviderRejectedError   invalid_client / unauthorized_client (our configuration)
        ├── CodeExchangeError       the authorization code or PKCE verifier was refused
        └── IdentityRejectedError   the ID token failed verification
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import google.auth.exceptions
import requests
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from mailroute.core.connection import BrokenReason, reason_from_invalid_grant
from mailroute.core.errors import (
    GmailAuthBrokenError,
    PermanentError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)


class CodeExchangeError(PermanentError):
    """Google refused the authorization code (used, expired, PKCE mismatch): start again."""

    code = "oauth_code_refused"


class IdentityRejectedError(PermanentError):
    """The ID token is not valid for us (signature, issuer, audience, expiry, missing email)."""

    code = "id_token_invalid"


@contextmanager
def google_errors(operation: str) -> Iterator[None]:
    """The one translator from google-auth / oauthlib / requests errors into ours."""
    try:
        yield
    except google.auth.exceptions.RefreshError as exc:
        raise _refresh_error(exc) from exc
    except oauth_errors.OAuth2Error as exc:
        raise _oauth2_error(exc, operation) from exc
    except (google.auth.exceptions.TransportError, requests.RequestException, OSError) as exc:
        raise ProviderUnavailableError(
            f"Google's OAuth service could not be reached ({type(exc).__name__}); try again",
            code="google_unavailable",
        ) from exc


def _refresh_error(exc: google.auth.exceptions.RefreshError) -> Exception:
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    error = str(details.get("error", ""))
    description = str(details.get("error_description", "") or "")
    if error == "invalid_grant":
        return GmailAuthBrokenError(
            f"Google refused the refresh token: {description or error}",
            reason=reason_from_invalid_grant(description),
        )
    if error == "admin_policy_enforced":
        return GmailAuthBrokenError(
            "a Google Workspace administrator restricted this app",
            reason=BrokenReason.ADMIN_POLICY,
        )
    if error == "invalid_scope":
        return GmailAuthBrokenError(
            "the authorization no longer includes permission to send email",
            reason=BrokenReason.SCOPE_REMOVED,
        )
    if error in ("rate_limit_exceeded", "slow_down"):
        return ProviderBusyError("Google's token endpoint is rate limiting; try again later")
    if error in ("invalid_client", "unauthorized_client"):
        return ProviderRejectedError(
            f"Google refused mailroute's OAuth client ({error}); check GOOGLE_CLIENT_ID and"
            " GOOGLE_CLIENT_SECRET",
            code="google_client_refused",
        )
    if getattr(exc, "retryable", False) or error in (
        "internal_failure",
        "server_error",
        "temporarily_unavailable",
        "",
    ):
        return ProviderUnavailableError(
            "Google's token endpoint is unavailable; try again", code="google_unavailable"
        )
    return ProviderRejectedError(f"Google refused the token refresh ({error})")


def _oauth2_error(exc: oauth_errors.OAuth2Error, operation: str) -> Exception:
    error = str(exc.error or "")
    status = int(exc.status_code or 400)
    if status >= 500 or status == 429 or error in ("server_error", "temporarily_unavailable"):
        return ProviderUnavailableError(
            "Google's OAuth service is unavailable; try again", code="google_unavailable"
        )
    if error in ("invalid_client", "unauthorized_client"):
        return ProviderRejectedError(
            f"Google refused mailroute's OAuth client ({error}); check GOOGLE_CLIENT_ID and"
            " GOOGLE_CLIENT_SECRET",
            code="google_client_refused",
        )
    return CodeExchangeError(
        f"Google refused the {operation} ({error}: {exc.description or 'no detail'});"
        " please sign in again"
    )
