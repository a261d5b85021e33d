"""Large attachments: `createUploadSession` on a draft, then `PUT`s of byte ranges to the
session's pre-authenticated `uploadUrl` (no Authorization header), as Outlook's upload sessions.

Rules (learn.microsoft.com/graph/outlook-large-attachments, attachment-createuploadsession,
resources/uploadsession): files of 3 MB to 150 MB; chunks of at most 4 MB, in order; each answer
says where the next chunk starts (`nextExpectedRanges: ["<start>"]`); the last chunk answers 201
with a `Location` naming the attachment.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox import clock
from mailroute_sandbox.app import state_of
from mailroute_sandbox.microsoft import errors, scopes
from mailroute_sandbox.microsoft.delivery import message_too_large
from mailroute_sandbox.microsoft.graph import not_found
from mailroute_sandbox.microsoft.graph_access import Caller, guarded
from mailroute_sandbox.microsoft.mailbox import (
    UPLOAD_SESSION_SECONDS,
    Attachment,
    UploadSession,
    graph_id,
)
from mailroute_sandbox.microsoft.state import MicrosoftState

router = APIRouter()
MIN_SIZE = 3 * 1024 * 1024
MAX_SIZE = 150 * 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_SESSION_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession"


def _bad(status: int, code: str, message: str) -> Response:
    return errors.graph_error(status, code, message)


def _item(body: bytes) -> dict[str, Any] | None:
    try:
        loaded = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    item = loaded.get("AttachmentItem") if isinstance(loaded, dict) else None
    return item if isinstance(item, dict) else None


@router.post("/graph/v1.0/me/messages/{message_id}/attachments/createUploadSession")
async def create_upload_session(message_id: str, request: Request) -> Response:
    async def work(ms: MicrosoftState, caller: Caller) -> Response:
        draft = ms.mailboxes.draft(caller.account.key, message_id)
        if draft is None:
            return not_found()
        item = _item(await request.body())
        if item is None or item.get("attachmentType", "file") != "file" or not item.get("name"):
            return _bad(
                400,
                "ErrorInvalidRequest",
                "AttachmentItem with attachmentType 'file', name and size is required.",
            )
        size = item.get("size")
        if not isinstance(size, int) or size < MIN_SIZE:
            return _bad(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size must be greater than the minimum size.",
            )
        if size > MAX_SIZE:
            return _bad(
                400,
                "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize",
                "Attachment size must be less than the maximum size.",
            )
        if draft.size() + size * 4 // 3 > caller.account.limits.max_message_bytes:
            return message_too_large(caller.account.limits.max_message_bytes)
        session = UploadSession(
            id=secrets.token_urlsafe(18),
            authtoken=secrets.token_urlsafe(48),
            account=caller.account.key,
            draft_id=draft.id,
            name=str(item["name"]),
            size=size,
            content_type=str(item.get("contentType") or "application/octet-stream"),
        )
        ms.mailboxes.open_session(session)
        base = str(request.base_url).rstrip("/")
        return errors.json_response(
            {
                "@odata.context": _SESSION_CONTEXT,
                "uploadUrl": f"{base}/graph/upload/{session.id}?authtoken={session.authtoken}",
                "expirationDateTime": clock.rfc3339(session.expires_at),
                "nextExpectedRanges": ["0-"],
            },
            201,
        )

    return await guarded(request, scopes.MAIL_READWRITE, work)


def _session(request: Request, session_id: str) -> tuple[MicrosoftState, UploadSession | None]:
    ms = state_of(request).microsoft
    found = ms.mailboxes.session(session_id, request.query_params.get("authtoken", ""))
    if found is not None and found.expires_at < clock.now():
        ms.mailboxes.close_session(found.id)
        found = None
    return ms, found


@router.put("/graph/upload/{session_id}")
async def upload_chunk(session_id: str, request: Request) -> Response:
    ms, session = _session(request, session_id)
    if session is None:
        return _bad(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
    match = _RANGE.fullmatch(request.headers.get("content-range", "").strip())
    if match is None:
        return _bad(
            400,
            "ErrorInvalidContentRange",
            "A Content-Range header 'bytes start-end/total' is required.",
        )
    start, end, total = (int(g) for g in match.groups())
    body = await request.body()
    if end - start + 1 > MAX_CHUNK:
        return _bad(413, "RequestEntityTooLarge", "The maximum request length supported is 4MB.")
    if total != session.size or end < start or end >= total or len(body) != end - start + 1:
        return _bad(
            400,
            "ErrorInvalidContentRange",
            f"The Content-Range 'bytes {start}-{end}/{total}' does not match the body or "
            f"the session's size {session.size}.",
        )
    with session.lock:
        if start != len(session.data):
            return _bad(
                416, "ErrorInvalidRange", f"The next expected range starts at {len(session.data)}."
            )
        session.data.extend(body)
        session.expires_at = clock.now() + UPLOAD_SESSION_SECONDS
        done = len(session.data) >= session.size
    if not done:
        return errors.json_response(
            {
                "@odata.context": _SESSION_CONTEXT,
                "expirationDateTime": clock.rfc3339(session.expires_at),
                "nextExpectedRanges": [str(len(session.data))],
            }
        )
    return _finish(ms, request, session)


def _finish(ms: MicrosoftState, request: Request, session: UploadSession) -> Response:
    ms.mailboxes.close_session(session.id)
    attachment = Attachment(graph_id(), session.name, session.content_type, bytes(session.data))
    draft = ms.mailboxes.attach(session.account, session.draft_id, attachment)
    if draft is None:
        return not_found()
    account = ms.accounts.get(session.account)
    owner = account.oid if account else session.account
    base = str(request.base_url).rstrip("/")
    location = (
        f"{base}/graph/v1.0/Users('{owner}')/Messages('{draft.id}')/Attachments('{attachment.id}')"
    )
    return Response(status_code=201, headers={"Location": location})


@router.delete("/graph/upload/{session_id}")
async def cancel_upload(session_id: str, request: Request) -> Response:
    ms, session = _session(request, session_id)
    if session is None:
        return _bad(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
    ms.mailboxes.close_session(session.id)
    return Response(status_code=204)
