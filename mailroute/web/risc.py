"""Google's Cross-Account Protection receiver (installed by `create_app`):

    POST /risc/events   Content-Type: application/secevent+jwt, body: one Security Event Token
                        202  accepted (or a replayed jti: nothing more is done)
                        400  {"err": ..., "description": ...} (RFC 8935 §2.3), nothing stored
                        503  the issuer's keys cannot be read now (Google retries)

Google signs the request, not the connection: the route needs no key and no session. It only
verifies and stores; the `risc` queue does the rest.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from mailroute.bootstrap import WebServices
from mailroute.bootstrap.risc import risc_receiver
from mailroute.core.risc import KeysUnavailableError, SecurityEventRefusedError
from mailroute.services.security_events import SecurityEventReceiver
from mailroute.web.correlation import correlation_id

# Not in /openapi.json: the route speaks RFC 8935 to Google, not the product's JSON API (its
# body is a JWT, its refusals are the SET push error body, not `ErrorBody`).
router = APIRouter(tags=["cross-account protection"], include_in_schema=False)
CONTENT_TYPE = "application/secevent+jwt"
_lock = threading.Lock()


def _receiver(request: Request) -> SecurityEventReceiver:
    """The receiver, built once per app on the web services' pool and outbox."""
    app = request.app
    found: SecurityEventReceiver | None = getattr(app.state, "risc", None)
    if found is None:
        with _lock:
            found = getattr(app.state, "risc", None)
            if found is None:
                ctx: WebServices = app.state.ctx
                found = risc_receiver(ctx.settings, ctx.pool, ctx.deps.outbox)
                app.state.risc = found
    return found


def _refused(err: str, description: str) -> JSONResponse:
    return JSONResponse({"err": err, "description": description}, status_code=400)


def _answer(receiver: SecurityEventReceiver, token: str, correlation: str) -> Response:
    try:
        receiver.receive(token, correlation)
    except SecurityEventRefusedError as exc:
        return _refused(exc.err, exc.description)
    except KeysUnavailableError:
        return JSONResponse(
            {"err": "temporarily_unavailable", "description": "the issuer's keys are unreadable"},
            status_code=503,
        )
    return Response(status_code=202)


@router.post("/risc/events", status_code=202)
async def receive(request: Request) -> Response:
    """One Security Event Token from Google's Cross-Account Protection."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != CONTENT_TYPE:
        return _refused("invalid_request", f"the content type must be {CONTENT_TYPE}")
    token = (await request.body()).decode("ascii", errors="replace").strip()
    if not token:
        return _refused("invalid_request", "the body must be one Security Event Token")
    receiver = await run_in_threadpool(_receiver, request)
    return await run_in_threadpool(_answer, receiver, token, correlation_id(request))


def install(app: FastAPI) -> None:
    """Add the Cross-Account Protection receiver to `app`."""
    app.include_router(router)
