"""Every request body is bounded while it is read, before authentication and before parsing.

The outermost middleware but the headers' and the Host check: a declared `Content-Length` over
the route's limit is answered 413 at once, without reading a byte; a body sent in chunks is
counted as the app reads it, and the chunk that passes the limit is answered 413 instead of
being handed on (the app sees the client gone). A route that never reads its body (a refusal
by the API key first) never has it buffered. The 413 closes the connection, so the rest of an
upload is not read either.

    POST /v1/emails            MAX_EMAIL_BYTES as base64 (4/3), plus 1 MB for the JSON
    POST /settings/email/send  1 MiB (the send form's text)
    every other route          MAX_REQUEST_BYTES (64 KiB)
"""

from __future__ import annotations

import structlog
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailroute.config.settings import Settings
from mailroute.events import FieldProblem
from mailroute.web.errors import error_body

log = structlog.get_logger(__name__)

SEND_FORM_BYTES = 1024 * 1024
_DISCONNECTED: Message = {"type": "http.disconnect"}


def email_request_limit(max_email_bytes: int) -> int:
    """POST /v1/emails: an email of `max_email_bytes` as base64, and room for the JSON."""
    return max_email_bytes * 4 // 3 + 1_000_000


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The largest body the route takes, in bytes."""
    if method == "POST" and path == "/v1/emails":
        return email_request_limit(settings.max_email_bytes)
    if method == "POST" and path == "/settings/email/send":
        return max(SEND_FORM_BYTES, settings.max_request_bytes)
    return settings.max_request_bytes


def too_large(limit: int) -> JSONResponse:
    """413, naming the body and the `max_size` rule; the connection is closed after it."""
    problem = FieldProblem("body", "max_size", f"at most {limit} bytes")
    return JSONResponse(
        error_body("too_large", "the request body is too large", [problem]),
        status_code=413,
        headers={"Connection": "close"},
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def _nothing_more() -> Message:
    return _DISCONNECTED


class BodyLimit:
    """Pure ASGI: counts the body's bytes in `receive`, answers 413 past the route's limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            log.info("http.body_refused", declared=declared, limit=limit)
            await too_large(limit)(scope, _nothing_more, send)
            return
        guard = _Guard(limit, receive, send, scope)
        try:
            await self.app(scope, guard.receive, guard.send)
        except ClientDisconnect:
            if not guard.refused:
                raise


class _Guard:
    """One request's count: what the app has read, and whether the 413 went out."""

    def __init__(self, limit: int, receive: Receive, send: Send, scope: Scope) -> None:
        self.limit, self.read, self.refused, self.started = limit, 0, False, False
        self._receive, self._send, self._scope = receive, send, scope

    async def receive(self) -> Message:
        if self.refused:
            return _DISCONNECTED
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                await self._refuse()
                return _DISCONNECTED
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 went out; the app's late answer is dropped
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _refuse(self) -> None:
        self.refused = True
        log.info("http.body_refused", read=self.read, limit=self.limit)
        if not self.started:
            await too_large(self.limit)(self._scope, _nothing_more, self._send)
