"""The granted-scope check, and how Google's errors become mailroute's."""

from __future__ import annotations

import google.auth.exceptions
import pytest
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from mailroute.adapters.google.errors import CodeExchangeError, google_errors
from mailroute.core.errors import (
    GmailAuthBrokenError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute.core.oauth import GMAIL_SEND, RefreshedToken, has_send_scope

USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"


def test_the_send_scope_must_be_granted() -> None:
    assert has_send_scope(("openid", USERINFO_EMAIL, GMAIL_SEND))
    assert not has_send_scope(("openid", USERINFO_EMAIL))
    assert not has_send_scope(())
    assert not has_send_scope(("https://www.googleapis.com/auth/gmail.readonly",))


def _refresh_error(error: str, description: str, *, retryable: bool = False) -> Exception:
    exc = google.auth.exceptions.RefreshError(
        f"{error}: {description}", {"error": error, "error_description": description}
    )
    exc._retryable = retryable  # what google-auth sets from the response status
    return exc


@pytest.mark.parametrize(
    ("error", "description", "reason"),
    [
        ("invalid_grant", "Token has been expired or revoked.", "revoked"),
        ("invalid_grant", "Account has been deleted", "account_deleted"),
        ("invalid_grant", "Bad Request", "expired"),
        ("admin_policy_enforced", "Access blocked by organization policy", "admin_policy"),
        ("invalid_scope", "Some requested scopes were invalid.", "scope_removed"),
    ],
)
def test_a_refused_refresh_breaks_the_connection_with_its_reason(
    error: str, description: str, reason: str
) -> None:
    with pytest.raises(GmailAuthBrokenError) as broken, google_errors("token refresh"):
        raise _refresh_error(error, description)

    assert broken.value.reason == reason


def test_an_unavailable_token_endpoint_is_transient() -> None:
    with pytest.raises(ProviderUnavailableError), google_errors("token refresh"):
        raise _refresh_error("internal_failure", "Backend Error", retryable=True)
    with pytest.raises(ProviderUnavailableError), google_errors("token refresh"):
        raise google.auth.exceptions.TransportError("connection refused")
    with pytest.raises(ProviderBusyError), google_errors("token refresh"):
        raise _refresh_error("rate_limit_exceeded", "Rate Limit Exceeded", retryable=True)


def test_a_refused_client_is_our_configuration_not_a_broken_connection() -> None:
    with pytest.raises(ProviderRejectedError) as refused, google_errors("token refresh"):
        raise _refresh_error("invalid_client", "Unauthorized")

    assert "GOOGLE_CLIENT_ID" in refused.value.message


def test_a_refused_authorization_code_asks_to_sign_in_again() -> None:
    with pytest.raises(CodeExchangeError) as refused, google_errors("authorization code"):
        raise oauth_errors.InvalidGrantError(description="Malformed auth code.", status_code=400)

    assert "Malformed auth code." in refused.value.message
    assert "sign in again" in refused.value.message


def test_a_refreshed_token_never_shows_the_token_in_its_repr() -> None:
    token = RefreshedToken("ya29.secret-value", None, (GMAIL_SEND,))

    assert "ya29" not in repr(token)
    assert token[0] == "ya29.secret-value"
