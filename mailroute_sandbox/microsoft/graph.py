"""Graph's mail-sending routes under `/graph/v1.0`: `me/sendMail` (base64 MIME, 202), drafts
from MIME (`me/messages`, 201) and sending a draft (`me/messages/{id}/send`, 202).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox import clock, mime
from mailroute_sandbox.microsoft import errors, scopes
from mailroute_sandbox.microsoft.delivery import (
    REQUEST_BODY_LIMIT,
    decode_mime,
    message_too_large,
    submit,
    too_large_request,
)
from mailroute_sandbox.microsoft.graph_access import Caller, guarded
from mailroute_sandbox.microsoft.mailbox import Draft, graph_id
from mailroute_sandbox.microsoft.state import MicrosoftState

router = APIRouter(prefix="/graph/v1.0")
ACCEPTED = 202


def not_found() -> Response:
    return errors.graph_error(
        404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


async def _mime_body(request: Request) -> bytes | Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > REQUEST_BODY_LIMIT:
        return too_large_request()
    body = await request.body()
    if len(body) > REQUEST_BODY_LIMIT:
        return too_large_request()
    if not request.headers.get("content-type", "").lower().startswith("text/plain"):
        return errors.graph_error(
            415, "UnsupportedMediaType", "The sandbox takes MIME only: Content-Type text/plain."
        )
    return decode_mime(body)


@router.post("/me/sendMail")
async def send_mail(request: Request) -> Response:
    async def work(ms: MicrosoftState, caller: Caller) -> Response:
        raw = await _mime_body(request)
        if isinstance(raw, Response):
            return raw
        refused = submit(ms, caller.account, raw, "sendMail")
        return refused or Response(status_code=ACCEPTED)

    return await guarded(request, scopes.MAIL_SEND, work)


def _recipients(headers: EmailMessage, name: str) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a, "name": a}} for a in mime.addresses(headers, name) if a]


def draft_json(draft: Draft) -> dict[str, Any]:
    headers = mime.read_headers(draft.raw)
    sender = mime.first_address(headers, "From")
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/messages/$entity",
        "id": draft.id,
        "createdDateTime": clock.rfc3339(draft.created_at),
        "lastModifiedDateTime": clock.rfc3339(draft.created_at),
        "subject": mime.header_text(headers, "Subject"),
        "internetMessageId": mime.header_text(headers, "Message-ID"),
        "isDraft": True,
        "hasAttachments": bool(draft.attachments),
        "from": {"emailAddress": {"name": sender[0], "address": sender[1]}} if sender else None,
        "toRecipients": _recipients(headers, "To"),
        "ccRecipients": _recipients(headers, "Cc"),
        "bccRecipients": _recipients(headers, "Bcc"),
    }


@router.post("/me/messages")
async def create_draft(request: Request) -> Response:
    async def work(ms: MicrosoftState, caller: Caller) -> Response:
        raw = await _mime_body(request)
        if isinstance(raw, Response):
            return raw
        draft = Draft(id=graph_id(), account=caller.account.key, raw=raw)
        ms.mailboxes.add_draft(draft)
        return errors.json_response(draft_json(draft), 201)

    return await guarded(request, scopes.MAIL_READWRITE, work)


@router.post("/me/messages/{message_id}/send")
async def send_draft(message_id: str, request: Request) -> Response:
    async def work(ms: MicrosoftState, caller: Caller) -> Response:
        draft = ms.mailboxes.take_draft(caller.account.key, message_id)
        if draft is None:
            return not_found()
        if draft.size() > caller.account.limits.max_message_bytes:
            ms.mailboxes.add_draft(draft)
            return message_too_large(caller.account.limits.max_message_bytes)
        refused = submit(ms, caller.account, draft.composed(), "draft")
        if refused is not None:
            ms.mailboxes.add_draft(draft)  # a refused send leaves the draft, as in Outlook
            return refused
        return Response(status_code=ACCEPTED)

    return await guarded(request, scopes.MAIL_SEND, work)
