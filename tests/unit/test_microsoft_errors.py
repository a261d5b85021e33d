"""Microsoft's answers in mailroute's error tree: the identity platform's token errors (AADSTS
codes, as msal returns them) and Microsoft Graph's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mailroute.adapters.microsoft import errors as ms
from mailroute.adapters.microsoft.errors import (
    GraphTokenRejectedError,
    MicrosoftCodeRefusedError,
    translate_token_error,
)
from mailroute.adapters.microsoft.graph_errors import GraphError, retry_time, translate_graph_error
from mailroute.core.connection import explain
from mailroute.core.errors import (
    MicrosoftAuthBrokenError,
    PermanentError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def token_error(error: str, code: int | None, text: str = "", **extra: Any) -> dict[str, Any]:
    """A token endpoint error as Microsoft sends it (and msal returns it)."""
    description = f"AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: x"
    body: dict[str, Any] = {"error": error, "error_description": description, **extra}
    if code is not None:
        body["error_codes"] = [code]
    return body


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (700082, ms.INACTIVE),
        (70008, ms.EXPIRED),
        (50173, ms.REVOKED),
        (65001, ms.CONSENT_MISSING),
        (50076, ms.MFA_REQUIRED),
        (50079, ms.MFA_REQUIRED),
        (70044, ms.CONDITIONAL_ACCESS),
        (53003, ms.CONDITIONAL_ACCESS),
        (50133, ms.PASSWORD_CHANGED),
        (50057, ms.ACCOUNT_DISABLED),
    ],
)
def test_a_refused_refresh_breaks_the_connection_with_the_aadsts_reason(
    code: int, reason: str
) -> None:
    error = translate_token_error(token_error("invalid_grant", code, "x"), operation="refresh")
    assert isinstance(error, MicrosoftAuthBrokenError)
    assert error.reason == reason
    assert "Trace ID" not in error.message


def test_every_reason_has_an_explanation_for_an_admin() -> None:
    reasons = {
        value
        for name, value in vars(ms).items()
        if name.isupper()
        and name
        in {
            "INACTIVE",
            "EXPIRED",
            "REVOKED",
            "CONSENT_MISSING",
            "MFA_REQUIRED",
            "CONDITIONAL_ACCESS",
            "PASSWORD_CHANGED",
            "ACCOUNT_DISABLED",
            "ACCOUNT_DELETED",
            "UNAUTHORIZED",
        }
    }
    assert reasons == ms.REASONS
    assert "90 days" in explain(ms.INACTIVE, "microsoft")
    assert explain("something new", "microsoft") == "Microsoft no longer accepts the authorization"


def test_the_code_is_read_from_the_description_when_error_codes_is_missing() -> None:
    body = token_error("invalid_grant", None, "")
    body["error_description"] = (
        "AADSTS50173: The provided grant has expired due to it being revoked"
    )
    error = translate_token_error(body, operation="refresh")
    assert isinstance(error, MicrosoftAuthBrokenError)
    assert error.reason == ms.REVOKED


def test_an_interaction_required_answer_is_classified_by_its_suberror() -> None:
    body = {
        "error": "interaction_required",
        "error_description": "no code",
        "suberror": "basic_action",
    }
    error = translate_token_error(body, operation="refresh")
    assert isinstance(error, MicrosoftAuthBrokenError)
    assert error.reason == ms.MFA_REQUIRED


def test_an_unknown_invalid_grant_still_breaks_as_expired() -> None:
    error = translate_token_error(token_error("invalid_grant", 9999999, "?"), operation="refresh")
    assert isinstance(error, MicrosoftAuthBrokenError)
    assert error.reason == ms.EXPIRED


def test_a_wrong_client_secret_is_our_configuration_not_a_broken_connection() -> None:
    error = translate_token_error(
        token_error("invalid_client", 7000215, "Invalid client secret provided."),
        operation="refresh",
    )
    assert isinstance(error, ProviderRejectedError)
    assert not isinstance(error, MicrosoftAuthBrokenError)
    assert "MICROSOFT_CLIENT_SECRET" in error.message


def test_an_expired_client_secret_says_so() -> None:
    error = translate_token_error(
        token_error("invalid_client", 7000222, "expired"), operation="code"
    )
    assert isinstance(error, ProviderRejectedError)
    assert "client secret expired" in error.message


def test_an_unavailable_identity_platform_is_transient() -> None:
    error = translate_token_error(
        token_error("temporarily_unavailable", 90033, "busy"), operation="refresh"
    )
    assert isinstance(error, ProviderUnavailableError)


def test_a_used_code_during_sign_in_asks_to_sign_in_again_and_breaks_nothing() -> None:
    error = translate_token_error(
        token_error("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed"),
        operation="code",
    )
    assert isinstance(error, MicrosoftCodeRefusedError)
    assert isinstance(error, PermanentError)


def test_a_declined_consent_is_a_cancelled_sign_in() -> None:
    error = translate_token_error(token_error("access_denied", 65004, "declined"), operation="code")
    assert isinstance(error, MicrosoftCodeRefusedError)
    assert "cancelled" in error.message


def graph(status: int, code: str, message: str = "", retry_after: str | None = None) -> GraphError:
    headers = {"Retry-After": retry_after} if retry_after else {}
    body = json.dumps({"error": {"code": code, "message": message, "innerError": {}}})
    return GraphError.of(httpx.Response(status, content=body.encode(), headers=headers))


def test_graph_401_is_a_distinct_error_that_breaks_if_a_fresh_token_gets_it_too() -> None:
    error = translate_graph_error(
        graph(401, "InvalidAuthenticationToken", "Access token has expired")
    )
    assert isinstance(error, GraphTokenRejectedError)
    assert isinstance(error, MicrosoftAuthBrokenError)
    assert error.reason == ms.UNAUTHORIZED


def test_graph_429_is_busy_until_retry_after() -> None:
    error = translate_graph_error(
        graph(
            429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", "7"
        ),
        now=NOW,
    )
    assert isinstance(error, ProviderBusyError)
    assert error.retry_at == NOW + timedelta(seconds=7)
    assert error.code == "microsoft_concurrency_limited"


def test_graph_503_with_retry_after_is_unavailable_until_then() -> None:
    error = translate_graph_error(graph(503, "ServiceUnavailable", "busy", "30"), now=NOW)
    assert isinstance(error, ProviderUnavailableError)
    assert error.retry_at == NOW + timedelta(seconds=30)


def test_retry_after_may_be_an_http_date() -> None:
    assert retry_time("Tue, 01 Dec 2026 18:05:00 GMT", NOW) == NOW + timedelta(minutes=5)
    assert retry_time("soon", NOW) is None
    assert retry_time(None, NOW) is None


@pytest.mark.parametrize(
    ("status", "code", "ours", "words"),
    [
        (404, "MailboxNotEnabledForRESTAPI", "microsoft_mailbox_not_enabled", "Exchange Online"),
        (403, "ErrorSendAsDenied", "microsoft_send_as_denied", "Send As"),
        (403, "ErrorAccessDenied", "microsoft_access_denied", "Mail.Send"),
        (413, "ErrorMessageSizeExceeded", "microsoft_too_large", "35 MB"),
        (400, "ErrorMimeContentInvalidBase64String", "microsoft_invalid_message", "malformed"),
    ],
)
def test_graph_refusals_of_the_message_are_permanent_and_say_what_to_do(
    status: int, code: str, ours: str, words: str
) -> None:
    error = translate_graph_error(graph(status, code, "said"))
    assert isinstance(error, ProviderRejectedError)
    assert error.code == ours
    assert words in error.message
