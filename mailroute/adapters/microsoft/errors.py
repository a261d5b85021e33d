"""How Microsoft's errors become mailroute's: the identity platform's answers (msal's error
results, `AADSTS<code>` in `error_codes`), and why a connection broke, in an admin's words.
Graph's errors are translated in `graph_errors`.

    MailrouteError
    ├── MicrosoftAuthBrokenError      a refresh answered invalid_grant / interaction_required
    │   └── GraphTokenRejectedError   Graph answered 401: refresh once and retry, then break
    ├── TransientError
    │   ├── ProviderBusyError         429, AADSTS50196 (loop detected), Retry-After honoured
    │   └── ProviderUnavailableError  5xx, temporarily_unavailable, timeouts, refused connections
    └── PermanentError
        ├── ProviderRejectedError     invalid_client / unauthorized_client (our configuration)
        ├── MicrosoftCodeRefusedError the authorization code, PKCE verifier or state was refused
        └── MicrosoftGrantRefusedError the sign-in is not one mailroute may connect
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import requests

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.errors import (
    MailrouteError,
    MicrosoftAuthBrokenError,
    PermanentError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)

# Why a Microsoft connection broke: `core.connection.BrokenReason`, explained per provider.
INACTIVE = BrokenReason.INACTIVE
EXPIRED = BrokenReason.EXPIRED
REVOKED = BrokenReason.REVOKED
CONSENT_MISSING = BrokenReason.CONSENT_MISSING
MFA_REQUIRED = BrokenReason.MFA_REQUIRED
CONDITIONAL_ACCESS = BrokenReason.CONDITIONAL_ACCESS
PASSWORD_CHANGED = BrokenReason.PASSWORD_CHANGED
ACCOUNT_DISABLED = BrokenReason.ACCOUNT_DISABLED
ACCOUNT_DELETED = BrokenReason.ACCOUNT_DELETED
UNAUTHORIZED = BrokenReason.UNAUTHORIZED
REASONS = frozenset(
    {
        INACTIVE,
        EXPIRED,
        REVOKED,
        CONSENT_MISSING,
        MFA_REQUIRED,
        CONDITIONAL_ACCESS,
        PASSWORD_CHANGED,
        ACCOUNT_DISABLED,
        ACCOUNT_DELETED,
        UNAUTHORIZED,
    }
)

# AADSTS codes (learn.microsoft.com/entra/identity-platform/reference-error-codes) -> reason.
_BROKEN_CODES: dict[int, str] = {
    700082: INACTIVE,  # ExpiredOrRevokedGrantInactiveToken: unused 90 days
    70008: EXPIRED,  # ExpiredOrRevokedGrant
    700084: EXPIRED,  # a SPA's refresh token lived its fixed 24 h
    70000: EXPIRED,  # InvalidGrant: the refresh token isn't valid
    50089: EXPIRED,  # flow token expired
    50173: REVOKED,  # FreshTokenNeeded: revoked by the user or an admin
    65001: CONSENT_MISSING,  # DelegationDoesNotExist
    50076: MFA_REQUIRED,  # UserStrongAuthClientAuthNRequired
    50079: MFA_REQUIRED,  # UserStrongAuthEnrollmentRequired
    50078: MFA_REQUIRED,  # UserStrongAuthExpired
    50072: MFA_REQUIRED,  # UserStrongAuthEnrollmentRequiredInterrupt
    50074: MFA_REQUIRED,  # UserStrongAuthClientAuthNRequiredInterrupt
    70043: CONDITIONAL_ACCESS,  # BadTokenDueToSignInFrequency
    70044: CONDITIONAL_ACCESS,  # session expired by sign-in frequency (not in the table)
    53000: CONDITIONAL_ACCESS,  # DeviceNotCompliant
    53001: CONDITIONAL_ACCESS,  # DeviceNotDomainJoined
    53003: CONDITIONAL_ACCESS,  # BlockedByConditionalAccess
    50131: CONDITIONAL_ACCESS,  # ConditionalAccessFailed
    50158: CONDITIONAL_ACCESS,  # ExternalSecurityChallenge
    50132: PASSWORD_CHANGED,  # SsoArtifactInvalidOrExpired
    50133: PASSWORD_CHANGED,  # SsoArtifactRevoked
    50055: PASSWORD_CHANGED,  # InvalidPasswordExpiredPassword
    50144: PASSWORD_CHANGED,  # InvalidPasswordExpiredOnPremPassword
    50057: ACCOUNT_DISABLED,  # UserDisabled
    50034: ACCOUNT_DELETED,  # UserAccountNotFound
    51004: ACCOUNT_DELETED,  # UserAccountNotInDirectory
}
# Microsoft's `suberror`, used when no known code came.
_BROKEN_SUBERRORS = {
    "consent_required": CONSENT_MISSING,
    "basic_action": MFA_REQUIRED,
    "additional_action": CONDITIONAL_ACCESS,
    "user_password_expired": PASSWORD_CHANGED,
    "bad_token": EXPIRED,
    "token_expired": EXPIRED,
}
_BROKEN_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_LOOP_DETECTED = 50196


class GraphTokenRejectedError(MicrosoftAuthBrokenError):
    """Graph answered 401 InvalidAuthenticationToken. The sender refreshes the token once
    (`MicrosoftOAuth.access_token(..., force_refresh=True)`) and retries; raised again, it
    breaks the connection like any `MicrosoftAuthBrokenError`."""

    code = "microsoft_token_rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=UNAUTHORIZED)


class MicrosoftCodeRefusedError(PermanentError):
    """The authorization code, its PKCE verifier or the state was refused: sign in again."""

    code = "microsoft_code_refused"


class MicrosoftGrantRefusedError(PermanentError):
    """The sign-in worked but is not one mailroute may connect (ID token invalid, no usable
    address, no Mail.Send, scopes that read mail). `code` says which."""

    code = "microsoft_grant_refused"


def error_codes(result: Mapping[str, Any]) -> tuple[int, ...]:
    """The AADSTS codes of an error result: `error_codes`, else those in the description."""
    found = result.get("error_codes")
    if isinstance(found, list) and found:
        return tuple(int(code) for code in found if str(code).isdigit())
    description = str(result.get("error_description") or "")
    if description.startswith("AADSTS"):
        digits = description[6:].split(":", 1)[0]
        if digits.isdigit():
            return (int(digits),)
    return ()


def _summary(result: Mapping[str, Any]) -> str:
    """The first line of Microsoft's description (no trace ids, timestamps or tokens)."""
    description = str(result.get("error_description") or result.get("error") or "")
    return description.splitlines()[0].strip()[:300] if description else "no detail"


def broken_reason(result: Mapping[str, Any]) -> str:
    """The reason an invalid_grant / interaction_required refresh means; EXPIRED if unknown."""
    for code in error_codes(result):
        if code in _BROKEN_CODES:
            return _BROKEN_CODES[code]
    return _BROKEN_SUBERRORS.get(str(result.get("suberror") or ""), EXPIRED)


def translate_token_error(
    result: Mapping[str, Any], *, operation: Literal["refresh", "code"]
) -> MailrouteError:
    """msal's error result (the token endpoint's JSON) as one of our errors."""
    error = str(result.get("error") or "")
    codes = error_codes(result)
    said = _summary(result)
    if error in _CLIENT_ERRORS:
        expired = 7000222 in codes
        return ProviderRejectedError(
            "Microsoft refused mailroute's app registration"
            + (" because its client secret expired" if expired else f" ({error})")
            + ": check MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET (Microsoft said: "
            + said
            + ")",
            code="microsoft_client_refused",
        )
    if error in _TRANSIENT_ERRORS or _LOOP_DETECTED in codes:
        kind = ProviderBusyError if _LOOP_DETECTED in codes else ProviderUnavailableError
        return kind(
            f"Microsoft's identity platform is unavailable ({error}); try again",
            code="microsoft_unavailable",
        )
    if operation == "code":
        declined = error == "access_denied" or 65004 in codes
        return MicrosoftCodeRefusedError(
            "The Microsoft sign-in was cancelled, so nothing was connected."
            if declined
            else f"Microsoft refused the sign-in ({error}: {said}); please sign in again."
        )
    if error in _BROKEN_ERRORS:
        reason = broken_reason(result)
        return MicrosoftAuthBrokenError(
            f"Microsoft refused the refresh token: {explain(reason, 'microsoft')} ({said})",
            reason=reason,
        )
    return ProviderRejectedError(
        f"Microsoft refused the token refresh ({error}: {said})", code="microsoft_refused"
    )


@contextmanager
def msal_errors(operation: str, *, sign_in: bool = False) -> Iterator[None]:
    """Failures under msal as our errors: it raises requests' exceptions on the network, and
    ValueError or RuntimeError when an answer does not match the flow (state, nonce) or cannot
    be read. `sign_in`: a mismatch means the sign-in must start again."""
    try:
        yield
    except MailrouteError:
        raise
    except requests.Timeout as exc:
        raise ProviderUnavailableError(
            f"Microsoft's identity platform did not answer the {operation} in time",
            code="microsoft_timeout",
        ) from exc
    except (requests.RequestException, OSError, json.JSONDecodeError) as exc:
        raise ProviderUnavailableError(
            f"Microsoft's identity platform could not be reached or gave no readable answer"
            f" ({operation}, {type(exc).__name__}); try again",
            code="microsoft_unavailable",
        ) from exc
    except (ValueError, RuntimeError) as exc:
        if sign_in:
            raise MicrosoftCodeRefusedError(
                "The Microsoft sign-in answer did not match this sign-in; please sign in again."
            ) from exc
        raise ProviderRejectedError(
            f"Microsoft's identity platform answered the {operation} in a way mailroute cannot"
            f" use ({type(exc).__name__}); check MICROSOFT_AUTHORITY",
            code="microsoft_refused",
        ) from exc
