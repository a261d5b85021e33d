"""One correlation id per request: the caller's `X-Correlation-Id` (refused with 422 when it is
not 1 to 100 letters, digits or `._:-`), or a new one; bound to every log line of the request
and answered in the same header. An email accepted by the request keeps it through dispatch,
send, its outcome event and any notice."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailroute.events.email import CORRELATION_ID
from mailroute.services.intake import new_correlation_id

HEADER = "X-Correlation-Id"


def correlation_id(request: Request) -> str:
    """The id of this request (set by the middleware)."""
    return str(getattr(request.state, "correlation_id", "")) or new_correlation_id()


class CorrelationIds:
    """Pure ASGI (no per-request task or stream, unlike `@app.middleware("http")`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(HEADER.lower().encode())
        given = raw.decode("latin-1") if raw is not None else None
        if given is not None and not CORRELATION_ID.match(given):
            await _refusal()(scope, receive, send)
            return
        value = given or new_correlation_id()
        scope.setdefault("state", {})["correlation_id"] = value
        header = (HEADER.lower().encode(), value.encode())

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=value)
        try:
            await self.app(scope, receive, send_with_header)
        finally:
            structlog.contextvars.clear_contextvars()


def _refusal() -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "validation_failed",
                "message": f"the {HEADER} header is invalid",
                "fields": [
                    {
                        "field": HEADER,
                        "rule": "correlation_id",
                        "message": "must be 1 to 100 letters, digits or . _ : -",
                    }
                ],
            }
        },
        status_code=422,
    )


def install_correlation_ids(app: FastAPI) -> None:
    app.add_middleware(CorrelationIds)
