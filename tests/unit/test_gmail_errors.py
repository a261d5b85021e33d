"""The Gmail translator: Google's error bodies (research §2.3) into our error tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from mailroute.adapters.google.gmail import retry_time, translate_http_error
from mailroute.core.connection import BrokenReason
from mailroute.core.errors import (
    GmailAuthBrokenError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)


def google_error(status: int, message: str, reason: str, **headers: str) -> HttpError:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": "X",
        }
    }
    resp = httplib2.Response({"status": str(status), **headers})
    return HttpError(resp, json.dumps(body).encode(), uri="http://gmail/send")


def test_a_401_after_a_fresh_token_breaks_the_connection_as_unauthorized() -> None:
    error = translate_http_error(google_error(401, "Invalid Credentials", "authError"))
    assert isinstance(error, GmailAuthBrokenError)
    assert error.reason == BrokenReason.UNAUTHORIZED


def test_403_insufficient_permissions_breaks_the_connection_as_scope_removed() -> None:
    error = translate_http_error(
        google_error(
            403, "Request had insufficient authentication scopes.", "insufficientPermissions"
        )
    )
    assert isinstance(error, GmailAuthBrokenError)
    assert error.reason == BrokenReason.SCOPE_REMOVED


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, "rateLimitExceeded"), (403, "userRateLimitExceeded"), (403, "rateLimitExceeded")],
)
def test_rate_limits_are_transient_and_carry_googles_retry_time(status: int, reason: str) -> None:
    message = "User-rate limit exceeded.  Retry after 2026-11-12T11:16:42.247Z (Mail sending)"
    error = translate_http_error(google_error(status, message, reason))
    assert isinstance(error, ProviderBusyError)
    assert error.retry_at == datetime(2026, 11, 12, 11, 16, 42, 247000, tzinfo=UTC)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    error = translate_http_error(google_error(status, "Backend Error", "backendError"))
    assert isinstance(error, ProviderUnavailableError)
    assert error.retry_at is None


@pytest.mark.parametrize(
    ("status", "message", "reason", "code", "words"),
    [
        (400, "Invalid To header", "invalidArgument", "gmail_invalid_message", "in To is not"),
        (400, "Recipient address required", "invalidArgument", "gmail_invalid_message", "no recip"),
        (400, "Precondition check failed.", "failedPrecondition", "gmail_not_enabled", "not enab"),
        (
            413,
            "Request payload size exceeds the limit: 1048576 bytes.",
            "uploadTooLarge",
            "gmail_too_large",
            "too large for Gmail",
        ),
        (
            403,
            "The domain administrators have disabled Gmail apps.",
            "domainPolicy",
            "gmail_domain_policy",
            "disabled Gmail apps",
        ),
    ],
)
def test_refusals_fail_at_once_in_words_an_admin_understands(
    status: int, message: str, reason: str, code: str, words: str
) -> None:
    error = translate_http_error(google_error(status, message, reason))
    assert isinstance(error, ProviderRejectedError)
    assert error.code == code
    assert words in error.message
    assert message in error.message  # Google's own words stay, for support


def test_retry_time_falls_back_to_the_retry_after_header() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_time("Too many concurrent requests for user", now, "30") == datetime(
        2026, 1, 1, 0, 0, 30, tzinfo=UTC
    )
    assert retry_time("Backend Error", now, None) is None


def test_a_body_that_is_not_json_still_translates() -> None:
    resp: Any = httplib2.Response({"status": "502"})
    error = translate_http_error(HttpError(resp, b"<html>bad gateway</html>", uri="x"))
    assert isinstance(error, ProviderUnavailableError)
