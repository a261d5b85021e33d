"""One correlation id per request: the caller's `X-Correlation-Id` (refused with 422 when it is
not 1 to 100 letters, digits or `._:-`), or a new one; bound to every log line of the request
and answered in the same header. An email accepted by the request keeps it through dispatch,
send, its outcome event and any notice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from mailroute.events.email import CORRELATION_ID
from mailroute.services.intake import new_correlation_id

HEADER = "X-Correlation-Id"


def correlation_id(request: Request) -> str:
    """The id of this request (set by the middleware)."""
    return str(getattr(request.state, "correlation_id", "")) or new_correlation_id()


def install_correlation_ids(app: FastAPI) -> None:
    @app.middleware("http")
    async def bind_correlation_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get(HEADER)
        if given is not None and not CORRELATION_ID.match(given):
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
        value = given or new_correlation_id()
        request.state.correlation_id = value
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=value)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response.headers[HEADER] = value
        return response
