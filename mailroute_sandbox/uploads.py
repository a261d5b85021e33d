"""The Gmail upload protocols for `users.messages.send`: media, multipart and resumable.

`POST /upload/gmail/v1/users/{userId}/messages/send?uploadType=...` (and the `/resumable/upload/`
alias); a resumable upload opens a session answered with `Location`, then `PUT`s its bytes
(`308` + `Range` until complete). The finished message goes through `gmail.complete`.
"""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox import errors, mime
from mailroute_sandbox.app import state_of
from mailroute_sandbox.gmail import authenticate, complete, metadata_of, thread_id_of
from mailroute_sandbox.state import UPLOAD_LIMIT, UploadSession

router = APIRouter()
UPLOAD_PATH = "/upload/gmail/v1/users/{user_id}/messages/send"
RESUMABLE_PATH = "/resumable/upload/gmail/v1/users/{user_id}/messages/send"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)|bytes \*/(\d+|\*)")


def _split_multipart(body: bytes, content_type: str) -> tuple[bytes, bytes] | None:
    """(metadata JSON, message bytes) of a multipart/related upload body."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    parts: list[bytes] = []
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        _head, eol, rest = mime.split_header_block(chunk.lstrip(b"\r\n"))
        content = rest[2 * len(eol) :]
        parts.append(content[: -len(eol)] if content.endswith(eol) else content)
    if len(parts) < 2:
        return None
    return parts[0], parts[1]


async def _upload(user_id: str, request: Request) -> Response:
    state = state_of(request)
    caller = authenticate(state, request, user_id)
    if isinstance(caller, Response):
        return caller
    upload_type = request.query_params.get("uploadType", "media")
    declared = request.headers.get("x-upload-content-length") or request.headers.get(
        "content-length", "0"
    )
    if declared.isdigit() and int(declared) > UPLOAD_LIMIT + 64 * 1024:
        return errors.too_large(UPLOAD_LIMIT)
    body = await request.body()
    if upload_type == "resumable":
        metadata = metadata_of(body)
        if isinstance(metadata, Response):
            return metadata
        total = request.headers.get("x-upload-content-length", "")
        session = UploadSession(
            id=secrets.token_urlsafe(24),
            account=caller.account.email.lower(),
            metadata=metadata,
            total=int(total) if total.isdigit() else None,
        )
        state.open_session(session)
        location = (
            str(request.base_url).rstrip("/")
            + request.url.path
            + f"?uploadType=resumable&upload_id={session.id}"
        )
        return Response(status_code=200, headers={"Location": location})
    if upload_type == "multipart":
        split = _split_multipart(body, request.headers.get("content-type", ""))
        if split is None:
            return errors.bad_request("Malformed multipart body.")
        metadata = metadata_of(split[0])
        if isinstance(metadata, Response):
            return metadata
        raw = split[1]
    elif upload_type == "media":
        metadata, raw = {}, body
    else:
        return errors.bad_request(f"Invalid upload type: {upload_type}")
    if len(raw) > UPLOAD_LIMIT:
        return errors.too_large(UPLOAD_LIMIT)
    return await complete(state, caller.account, raw, thread_id_of(metadata), upload_type)


async def _upload_chunk(user_id: str, request: Request) -> Response:
    state = state_of(request)
    session = state.session(request.query_params.get("upload_id", ""))
    if session is None:
        return errors.not_found("No such upload session.")
    body = await request.body()
    match = _RANGE.fullmatch(request.headers.get("content-range", "").strip())
    if match and match.group(4) is not None:  # "bytes */N": a status query
        return _incomplete(session)
    start = int(match.group(1)) if match else len(session.data)
    if match and match.group(3) != "*":
        session.total = int(match.group(3))
    del session.data[start:]
    session.data.extend(body)
    if session.total is not None and len(session.data) > UPLOAD_LIMIT:
        state.close_session(session.id)
        return errors.too_large(UPLOAD_LIMIT)
    if session.total is None or len(session.data) < session.total:
        return _incomplete(session)
    state.close_session(session.id)
    account = state.accounts.get(session.account)
    if account is None:
        return errors.invalid_credentials(expired=False)
    raw = bytes(session.data)
    return await complete(state, account, raw, thread_id_of(session.metadata), "resumable")


def _incomplete(session: UploadSession) -> Response:
    headers = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
    return Response(status_code=308, headers=headers)


for _path in (UPLOAD_PATH, RESUMABLE_PATH):
    router.add_api_route(_path, _upload, methods=["POST"])
    router.add_api_route(_path, _upload_chunk, methods=["PUT"])
