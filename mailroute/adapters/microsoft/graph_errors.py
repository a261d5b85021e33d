"""How Microsoft Graph's errors become mailroute's, in words a company admin understands.

    401 InvalidAuthenticationToken          -> GraphTokenRejectedError (refresh once, then break)
    429 (ApplicationThrottled, MailboxConcurrency), 503 / 504 with Retry-After
                                            -> ProviderBusyError / ProviderUnavailableError,
                                               retry_at from Retry-After
    other 5xx, timeouts, refused connections -> ProviderUnavailableError
    404 MailboxNotEnabledForRESTAPI, 403 ErrorSendAsDenied, 403 ErrorAccessDenied,
    413 / ErrorMessageSizeExceeded, 400 bad MIME, other 4xx -> ProviderRejectedError (permanent)

Graph's error body: `{"error": {"code", "message", "innerError": {...}}}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from mailroute.adapters.microsoft.errors import GraphTokenRejectedError
from mailroute.core.errors import (
    MailrouteError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)

_INVALID_MESSAGE = frozenset(
    {
        "ErrorMimeContentInvalidBase64String",
        "ErrorMimeContentInvalid",
        "ErrorMimeContentConversionFailed",
        "UnableToDeserializePostBody",
        "ErrorInvalidRecipients",
        "ErrorInvalidRequest",
        "RequestBodyRead",
    }
)


@dataclass(frozen=True)
class GraphError:
    status: int
    code: str
    message: str
    retry_after: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> GraphError:
        code, message = "", ""
        try:
            error = json.loads(response.content or b"{}").get("error", {})
        except (ValueError, AttributeError):
            error = {}
        if isinstance(error, dict):
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        return cls(response.status_code, code, message[:500], response.headers.get("retry-after"))


def retry_time(header: str | None, now: datetime | None = None) -> datetime | None:
    """Retry-After as an aware time: seconds (what Graph sends), or an HTTP date."""
    if not header:
        return None
    value = header.strip()
    now = now or datetime.now(UTC)
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rejected(error: GraphError) -> ProviderRejectedError:
    said = f" (Microsoft said: {error.code}: {error.message})" if error.code else ""
    code = error.code
    if code == "MailboxNotEnabledForRESTAPI" or (error.status == 404 and "mailbox" in said.lower()):
        return ProviderRejectedError(
            "Microsoft 365 cannot send from the connected account: its mailbox is inactive,"
            " soft-deleted or hosted on an on-premises Exchange server, or the account has no"
            " Exchange Online licence. A Microsoft 365 administrator must give it an Exchange"
            " Online mailbox, or connect another account." + said,
            code="microsoft_mailbox_not_enabled",
        )
    if code == "ErrorSendAsDenied":
        return ProviderRejectedError(
            "Microsoft 365 refused the From address: the connected mailbox may send only as its"
            " own address or its aliases. Send from the connected address, or ask a Microsoft"
            " 365 administrator to grant it Send As permission for this address." + said,
            code="microsoft_send_as_denied",
        )
    if code == "ErrorAccessDenied" or error.status == 403:
        return ProviderRejectedError(
            "Microsoft 365 denied mailroute access to the mailbox: the authorization lacks"
            " permission to send email (Mail.Send), or an Exchange administrator restricted"
            " this app (an application access policy). Re-authorize, or ask the Microsoft 365"
            " administrator to allow mailroute." + said,
            code="microsoft_access_denied",
        )
    if code == "ErrorMessageSizeExceeded" or error.status == 413:
        return ProviderRejectedError(
            "The email is too large for Microsoft 365: with its attachments it must stay under"
            " the organisation's message size limit (35 MB by default, encoded). Send smaller"
            " attachments or a link instead." + said,
            code="microsoft_too_large",
        )
    if code == "ErrorQuotaExceeded":
        return ProviderRejectedError(
            "Microsoft 365 refused the email because the connected mailbox is full. Free space"
            " in the mailbox, or ask the Microsoft 365 administrator for a larger quota." + said,
            code="microsoft_mailbox_full",
        )
    if code in _INVALID_MESSAGE or error.status == 400:
        return ProviderRejectedError(
            "Microsoft 365 refused the email as malformed (its MIME content or an address"
            " could not be read)." + said,
            code="microsoft_invalid_message",
        )
    return ProviderRejectedError(
        f"Microsoft 365 refused the email (HTTP {error.status}).{said}", code="microsoft_rejected"
    )


def translate_graph_error(error: GraphError, now: datetime | None = None) -> MailrouteError:
    if error.status == 401:
        return GraphTokenRejectedError(
            f"Microsoft Graph refused the access token ({error.code or 'HTTP 401'})"
        )
    retry_at = retry_time(error.retry_after, now)
    if error.status == 429:
        concurrency = "concurrency" in error.message.lower()
        return ProviderBusyError(
            "Microsoft 365 is throttling this mailbox"
            + (" (too many requests at once)" if concurrency else "")
            + f": {error.message or error.code}",
            code="microsoft_concurrency_limited" if concurrency else "microsoft_rate_limited",
            retry_at=retry_at,
        )
    if error.status >= 500:
        return ProviderUnavailableError(
            f"Microsoft Graph is unavailable (HTTP {error.status}): {error.message or error.code}",
            code="microsoft_unavailable",
            retry_at=retry_at,
        )
    return _rejected(error)


def raise_for_graph(response: httpx.Response, expected: int | tuple[int, ...]) -> None:
    wanted = (expected,) if isinstance(expected, int) else expected
    if response.status_code not in wanted:
        raise translate_graph_error(GraphError.of(response))


@contextmanager
def graph_errors() -> Iterator[None]:
    """httpx's failures as ours (Graph's answers are translated by `raise_for_graph`)."""
    try:
        yield
    except MailrouteError:
        raise
    except httpx.TimeoutException as exc:
        raise ProviderUnavailableError(
            "Microsoft Graph did not answer in time", code="microsoft_timeout"
        ) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise ProviderUnavailableError(
            f"Microsoft Graph is unreachable: {type(exc).__name__}", code="microsoft_unavailable"
        ) from exc


def json_body(response: httpx.Response) -> Mapping[str, object]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}
