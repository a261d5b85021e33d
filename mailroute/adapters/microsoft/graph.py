"""Sending finished RFC 5322 messages through Microsoft Graph as the connected mailbox.

- A message whose base64 fits one request (Graph's 4 MB): `POST /me/sendMail`, `Content-Type:
  text/plain`, the base64 MIME -> 202, empty.
- A larger one: a draft from the MIME without its large attachments (`POST /me/messages`, base64
  MIME -> 201 with the draft's `id`), each detached attachment of 3 MB or more by
  `createUploadSession` and chunked PUTs to the session's URL (which takes no Authorization
  header: Microsoft says not to send one), smaller ones posted as fileAttachments, then
  `POST /me/messages/{id}/send` -> 202. A draft left by a failure is deleted.

Graph answers 202 without a message id: the result says "submitted" (accepted for delivery,
which Exchange may still throttle or refuse with a bounce), never "delivered". The Message-ID is
the MIME's own; a draft's `internetMessageId` is compared with it and the result says whether
Exchange kept it.

One httpx client per sender (thread-safe, kept-alive connections). No retries here: sendMail is
not idempotent; retries are the caller's. A 401 raises `GraphTokenRejectedError` for the
caller to refresh once and send again.
"""

from __future__ import annotations

import base64
import ssl
import threading
from dataclasses import dataclass
from typing import Literal

import httpx
import structlog

from mailroute.adapters.microsoft.draft_parts import (
    REQUEST_LIMIT,
    DetachedAttachment,
    encoded_size,
    file_attachment,
    message_id,
    split_for_draft,
    upload_item,
)
from mailroute.adapters.microsoft.graph_errors import graph_errors, json_body, raise_for_graph
from mailroute.core.errors import ProviderRejectedError, ProviderUnavailableError

log = structlog.get_logger(__name__)

# Exchange Online's default message size limit (the tenant may lower or raise it, up to 150 MB);
# counted on the message as sent, attachments encoded: intake refuses larger MIME messages.
MAX_MESSAGE_BYTES = 35 * 1024 * 1024
# The largest MIME message one `sendMail` request takes (its base64 within Graph's 4 MB). Larger
# ones go as a draft, which real Graph allows only with Mail.ReadWrite (user-post-messages,
# attachment-createuploadsession): with Mail.Send alone, this is the real limit.
MAX_SENDMAIL_BYTES = REQUEST_LIMIT * 3 // 4
# Chunks of an upload session: under Graph's 4 MB a request, a multiple of 320 KiB.
UPLOAD_CHUNK = 10 * 320 * 1024


@dataclass(frozen=True)
class GraphSubmission:
    """Graph accepted the message for delivery (202): submitted, not delivered."""

    path: Literal["sendMail", "draft"]
    message_id: str | None  # the MIME's Message-ID
    draft_id: str | None = None
    uploaded: int = 0  # attachments sent by upload session
    message_id_kept: bool | None = None  # the draft's internetMessageId is the MIME's
    status: Literal["submitted"] = "submitted"


def ssl_context_from(ca_file: str) -> ssl.SSLContext:
    """TLS verification against `ca_file` (the sandbox's CA), or the system's store."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


class GraphSender:
    """Sends as the mailbox an access token belongs to; one per process."""

    def __init__(
        self,
        graph_url: str,
        *,
        ca_file: str = "",
        timeout: float = 30.0,
        request_limit: int = REQUEST_LIMIT,
        upload_chunk: int = UPLOAD_CHUNK,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        client: httpx.Client | None = None,
    ) -> None:
        self._root = graph_url.rstrip("/")
        self._max_message_bytes = max_message_bytes
        self._request_limit = request_limit
        self._chunk = upload_chunk
        self._ca_file = ca_file
        self._timeout = timeout
        self._given = client
        self._built: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def _client(self) -> httpx.Client:
        """The HTTP client, built on first use: the CA file it trusts (the sandbox's) may be
        written only after this process started."""
        if self._given is not None:
            return self._given
        with self._lock:
            if self._built is None:
                self._built = httpx.Client(
                    verify=ssl_context_from(self._ca_file),
                    timeout=httpx.Timeout(self._timeout, connect=10.0),
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                )
            return self._built

    def close(self) -> None:
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            built.close()
        if self._given is not None:
            self._given.close()

    def send(self, access_token: str, mime: bytes) -> GraphSubmission:
        """Submit `mime` (a finished message, From the mailbox or one of its aliases)."""
        if len(mime) > self._max_message_bytes:
            raise ProviderRejectedError(
                "The email is too large for Microsoft 365: with its attachments it must stay"
                f" under {self._max_message_bytes // (1024 * 1024)} MB.",
                code="microsoft_too_large",
            )
        with graph_errors():
            if encoded_size(mime) <= self._request_limit:
                response = self._client.post(
                    self._root + "/me/sendMail",
                    content=base64.b64encode(mime),
                    headers=_auth(access_token, "text/plain"),
                )
                raise_for_graph(response, 202)
                structlog.contextvars.bind_contextvars(graph_path="sendMail", size=len(mime))
                return GraphSubmission(path="sendMail", message_id=message_id(mime))
            return self._send_as_draft(access_token, mime)

    def _send_as_draft(self, token: str, mime: bytes) -> GraphSubmission:
        parts = split_for_draft(mime, limit=self._request_limit)
        if encoded_size(parts.draft_mime) > self._request_limit:
            raise ProviderRejectedError(
                "Microsoft 365 cannot take this email: its text and headers alone are over the"
                " 4 MB Graph allows in one request.",
                code="microsoft_too_large",
            )
        response = self._client.post(
            self._root + "/me/messages",
            content=base64.b64encode(parts.draft_mime),
            headers=_auth(token, "text/plain"),
        )
        try:
            raise_for_graph(response, (200, 201))
        except ProviderRejectedError as exc:
            if exc.code != "microsoft_access_denied":
                raise
            raise ProviderRejectedError(
                "The email is too large to send through Microsoft 365 with the permission"
                " mailroute holds: over about 3 MB, Microsoft Graph takes a message only as a"
                " draft, which needs permission to read and write the mailbox's mail"
                " (Mail.ReadWrite), and mailroute asks only to send (Mail.Send). Send smaller"
                " attachments, or a link instead.",
                code="microsoft_too_large_for_mail_send",
            ) from exc
        draft = json_body(response)
        draft_id = str(draft.get("id") or "")
        if not draft_id:
            raise ProviderUnavailableError(
                "Microsoft Graph created a draft but gave no id", code="microsoft_unavailable"
            )
        kept = _same_id(draft.get("internetMessageId"), parts.message_id)
        if kept is False:
            log.warning("graph.draft_message_id_replaced")
        uploaded = 0
        try:
            for attachment in parts.attachments:
                if attachment.by_upload_session:
                    self._upload(token, draft_id, attachment)
                    uploaded += 1
                else:
                    added = self._client.post(
                        self._message_url(draft_id) + "/attachments",
                        json=file_attachment(attachment),
                        headers=_auth(token),
                    )
                    raise_for_graph(added, (200, 201))
            sent = self._client.post(
                self._message_url(draft_id) + "/send", headers=_auth(token), content=b""
            )
            raise_for_graph(sent, 202)
        except BaseException:
            self._discard(token, draft_id)
            raise
        structlog.contextvars.bind_contextvars(
            graph_path="draft", size=len(mime), graph_uploads=uploaded
        )
        return GraphSubmission(
            path="draft",
            message_id=parts.message_id,
            draft_id=draft_id,
            uploaded=uploaded,
            message_id_kept=kept,
        )

    def _upload(self, token: str, draft_id: str, attachment: DetachedAttachment) -> None:
        session = self._client.post(
            self._message_url(draft_id) + "/attachments/createUploadSession",
            json=upload_item(attachment),
            headers=_auth(token),
        )
        raise_for_graph(session, (200, 201))
        upload_url = str(json_body(session).get("uploadUrl") or "")
        if not upload_url:
            raise ProviderUnavailableError(
                "Microsoft Graph opened an upload session without a URL",
                code="microsoft_unavailable",
            )
        content, total, offset = attachment.content, attachment.size, 0
        while offset < total:
            end = min(offset + self._chunk, total) - 1
            chunk = content[offset : end + 1]
            # No Authorization header: the URL carries its own token.
            response = self._client.put(
                upload_url,
                content=chunk,
                headers={
                    "Content-Range": f"bytes {offset}-{end}/{total}",
                    "Content-Type": "application/octet-stream",
                },
            )
            raise_for_graph(response, (200, 201))
            if response.status_code == 201:
                return
            offset = _next_offset(json_body(response), default=end + 1)
        raise ProviderUnavailableError(
            "Microsoft Graph did not confirm the end of an attachment upload",
            code="microsoft_unavailable",
        )

    def _discard(self, token: str, draft_id: str) -> None:
        """Delete the draft a failed send leaves in the Drafts folder (best effort)."""
        try:
            self._client.delete(self._message_url(draft_id), headers=_auth(token))
        except httpx.HTTPError:
            log.info("graph.draft_not_discarded")

    def _message_url(self, draft_id: str) -> str:
        return f"{self._root}/me/messages/{draft_id}"


def _auth(token: str, content_type: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _same_id(stored: object, ours: str | None) -> bool | None:
    if not isinstance(stored, str) or not stored or ours is None:
        return None
    return stored.strip() == ours.strip()


def _next_offset(body: object, *, default: int) -> int:
    """The first byte Graph expects next (`nextExpectedRanges: ["12345-"]`)."""
    ranges = body.get("nextExpectedRanges") if isinstance(body, dict) else None
    if isinstance(ranges, list) and ranges:
        start = str(ranges[0]).split("-", 1)[0]
        if start.isdigit():
            return int(start)
    return default
