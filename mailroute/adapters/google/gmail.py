"""Sending through a company's Gmail account with the Gmail API (`users.messages.send`).

One translator, `_google_errors()`, maps what the Gmail API client raises into our error tree
(token refreshes go through `adapters.google.oauth`, whose translator already turned
`invalid_grant` of any description and `admin_policy_enforced` into GmailAuthBrokenError):

    401 after a fresh token                        -> GmailAuthBrokenError(UNAUTHORIZED)
    403 insufficientPermissions                    -> GmailAuthBrokenError(SCOPE_REMOVED)
    429, 403 userRateLimitExceeded/rateLimitExceeded -> ProviderBusyError (retry_at from Google's
                                                      "Retry after <RFC 3339>")
    5xx, timeouts, refused connections                -> ProviderUnavailableError
    400 invalidArgument/failedPrecondition/badRequest, 413, other 4xx -> ProviderRejectedError,
                                                      with Google's message in an admin's words

The discovery document is parsed once per process (with the configured root URL, which also
covers the /upload paths); each thread builds its own client over its own httplib2.Http (httplib2
is not thread-safe). `num_retries=0`: messages.send is not idempotent, retries are ours.
"""

from __future__ import annotations

import base64
import io
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httplib2
import structlog
from google.auth.exceptions import TransportError
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError, MediaUploadSizeError
from googleapiclient.http import MediaIoBaseUpload

from mailroute.adapters.access_tokens import AccessTokens
from mailroute.core.connection import BrokenReason
from mailroute.core.errors import (
    GmailAuthBrokenError,
    MailrouteError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute.core.ports import Envelope, ProviderReceipt

log = structlog.get_logger(__name__)

_RETRY_AFTER = re.compile(
    r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
)
_BUSY_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"}
_SCOPE_REASONS = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
UPLOAD_CHUNK = 8 * 1024 * 1024  # a multiple of 256 KiB, as resumable uploads require


@dataclass(frozen=True)
class GoogleError:
    """The parts of a Google JSON error body that decide what happens."""

    status: int
    reasons: frozenset[str]
    message: str

    @classmethod
    def of(cls, exc: HttpError) -> GoogleError:
        status = int(exc.resp.status)
        reasons: set[str] = set()
        message = ""
        try:
            error = json.loads(exc.content or b"{}").get("error", {})
        except (ValueError, AttributeError):
            error = {}
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            for item in [*error.get("errors", []), *error.get("details", [])]:
                if isinstance(item, dict) and item.get("reason"):
                    reasons.add(str(item["reason"]))
        return cls(status, frozenset(reasons), message or str(getattr(exc, "reason", "")))


def retry_time(
    message: str, now: datetime | None = None, header: str | None = None
) -> datetime | None:
    """Google's "Retry after 2024-11-12T11:16:42.247Z" (in the message), else Retry-After."""
    match = _RETRY_AFTER.search(message)
    if match:
        return datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    if header and header.strip().isdigit():
        return (now or datetime.now(UTC)) + timedelta(seconds=int(header.strip()))
    return None


def _admin_words(error: GoogleError) -> tuple[str, str]:
    """(code, message) for a message Gmail refused, in words a company admin understands."""
    said = f" (Gmail said: {error.message})" if error.message else ""
    text = error.message.lower()
    if error.status == 413 or "size exceeds" in text:
        return "gmail_too_large", (
            "The email is too large for Gmail: with its attachments it must stay under 35 MB "
            "once encoded. Send smaller attachments or a link instead." + said
        )
    if "failedPrecondition" in error.reasons or "not enabled" in text or "precondition" in text:
        return "gmail_not_enabled", (
            "Gmail refused to send because Gmail is not enabled for the connected Google "
            "account. A Google Workspace administrator must turn Gmail on for it." + said
        )
    if "domainPolicy" in error.reasons:
        return "gmail_domain_policy", (
            "The Google Workspace administrators of the connected account have disabled Gmail "
            "apps; ask them to allow this app." + said
        )
    if "recipient address required" in text:
        return "gmail_invalid_message", "Gmail refused the email: it has no recipient." + said
    match = re.search(r"invalid (to|cc|bcc|from) header", text)
    if match:
        field = match.group(1).capitalize()
        return "gmail_invalid_message", (
            f"Gmail refused the email: an address in {field} is not valid." + said
        )
    return "gmail_rejected", f"Gmail refused the email (HTTP {error.status}).{said}"


def translate_http_error(exc: HttpError) -> MailrouteError:
    error = GoogleError.of(exc)
    if error.status == 401:
        return GmailAuthBrokenError(
            "Gmail refused the authorization even after a fresh token",
            reason=BrokenReason.UNAUTHORIZED,
        )
    if error.status == 403 and error.reasons & _SCOPE_REASONS:
        return GmailAuthBrokenError(
            "the authorization no longer includes permission to send email",
            reason=BrokenReason.SCOPE_REMOVED,
        )
    if error.status == 429 or (error.status == 403 and error.reasons & _BUSY_REASONS):
        retry_at = retry_time(error.message, header=exc.resp.get("retry-after"))
        return ProviderBusyError(
            f"Gmail is rate limiting this account: {error.message}",
            code="gmail_rate_limited",
            retry_at=retry_at,
        )
    if error.status >= 500:
        return ProviderUnavailableError(
            f"Gmail is unavailable (HTTP {error.status}): {error.message}",
            code="gmail_unavailable",
        )
    code, message = _admin_words(error)
    return ProviderRejectedError(message, code=code)


@contextmanager
def _google_errors() -> Iterator[None]:
    try:
        yield
    except MailrouteError:
        raise
    except HttpError as exc:
        raise translate_http_error(exc) from exc
    except MediaUploadSizeError as exc:
        raise ProviderRejectedError(
            "The email is too large for Gmail: with its attachments it must stay under 35 MB.",
            code="gmail_too_large",
        ) from exc
    except TimeoutError as exc:
        raise ProviderUnavailableError(
            "Gmail did not answer in time", code="gmail_timeout"
        ) from exc
    except (TransportError, httplib2.HttpLib2Error, ssl.SSLError, OSError) as exc:
        raise ProviderUnavailableError(
            f"Gmail is unreachable: {type(exc).__name__}", code="gmail_unavailable"
        ) from exc


def gmail_discovery(root_url: str) -> dict[str, Any]:
    """The bundled discovery document, pointed at `root_url` (also for /upload, research §0.1)."""
    doc: dict[str, Any] = json.loads(get_static_doc("gmail", "v1") or "{}")
    doc["rootUrl"] = doc["mtlsRootUrl"] = root_url.rstrip("/") + "/"
    return doc


class GmailSender:
    """Sends finished RFC 5322 messages as the connected Gmail account."""

    def __init__(
        self,
        tokens: AccessTokens,
        *,
        root_url: str,
        timeout: float = 30.0,
        upload_threshold: int = 4 * 1024 * 1024,
        resumable_threshold: int = 16 * 1024 * 1024,
    ) -> None:
        self._tokens = tokens
        self._doc = gmail_discovery(root_url)
        self._timeout = timeout
        self._upload_threshold = upload_threshold
        self._resumable_threshold = resumable_threshold
        self._local = threading.local()

    def for_connection(self, connection_id: str, generation: int) -> GmailTransport:
        return GmailTransport(self, connection_id, generation)

    def send(self, connection_id: str, generation: int, message: bytes) -> ProviderReceipt:
        with _google_errors():
            token = self._tokens.access_token(connection_id, generation)
            try:
                return self._send_once(message, token)
            except HttpError as exc:
                if exc.resp.status != 401:
                    raise
                log.info("gmail.token_refused", connection_id=connection_id)
            token = self._tokens.refreshed_after(connection_id, generation, token)
            return self._send_once(message, token)

    def _messages(self) -> tuple[Any, httplib2.Http]:
        """This thread's `users.messages` resource and its HTTP client, built once: building a
        resource turns every method of the discovery document into a Python method, which costs
        more than the send itself."""
        found: tuple[Any, httplib2.Http] | None = getattr(self._local, "client", None)
        if found is None:
            http = httplib2.Http(timeout=self._timeout)
            # Resumable uploads answer 308 "Resume Incomplete", not a redirect (as build_http).
            http.redirect_codes = http.redirect_codes - {308}
            service = build_from_document(self._doc, http=http)
            found = (service.users().messages(), http)
            self._local.client = found
        return found

    def _send_once(self, message: bytes, token: str) -> ProviderReceipt:
        messages, http = self._messages()
        if len(message) <= self._upload_threshold:
            body = {"raw": base64.urlsafe_b64encode(message).decode("ascii")}
            request = messages.send(userId="me", body=body)
            path = "json"
        else:
            resumable = len(message) > self._resumable_threshold
            media = MediaIoBaseUpload(
                io.BytesIO(message),
                mimetype="message/rfc822",
                chunksize=UPLOAD_CHUNK,
                resumable=resumable,
            )
            request = messages.send(userId="me", media_body=media)
            path = "resumable" if resumable else "media"
        request.headers["authorization"] = f"Bearer {token}"
        try:
            result: dict[str, Any] = request.execute(http=http, num_retries=0)
        except BrokenPipeError:
            # The thread's kept-alive connection was closed by the server while it sat idle
            # (paced sends leave threads idle longer): the write failed, so nothing reached
            # Gmail and sending again on a new connection cannot double the email. httplib2
            # retries a stale connection only when it fails on the read, not on the write.
            if path == "resumable":
                raise
            log.info("gmail.stale_connection_replaced")
            for connection in http.connections.values():
                connection.close()
            result = request.execute(http=http, num_retries=0)
        # Reported on the message's `message.done` line.
        structlog.contextvars.bind_contextvars(gmail_upload=path, size=len(message))
        return ProviderReceipt(message_id=result.get("id"), thread_id=result.get("threadId"))


@dataclass(frozen=True)
class GmailTransport:
    """A `MessageTransport` bound to one connection and generation."""

    sender: GmailSender
    connection_id: str
    generation: int

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        return self.sender.send(self.connection_id, self.generation, message)
