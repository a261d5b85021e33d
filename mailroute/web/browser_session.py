"""The browser session of the settings page (and of an OAuth flow), known server-side.

The cookie (`mailroute_session`: HttpOnly, SameSite=Lax, Secure over https, 8 hours) holds a
random token; the session itself is a row in PostgreSQL (`BrowserSessions`): its id (which
binds OAuth states), the signed-in admin, a CSRF token and one-shot notices. Signing out
deletes the row, so an old copy of the cookie opens nothing; the row expires server-side; an
admin who is no longer one is signed out on their next request.

The middleware only sets or clears the cookie; the session is read from the database the
first time a route asks for it (routes that never do, the API and /metrics, pay nothing).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailroute.bootstrap import WebServices
from mailroute.config.settings import Settings
from mailroute.core.records import AdminUser
from mailroute.core.web_ports import BrowserSessionRecord

SESSION_COOKIE = "mailroute_session"
SESSION_MAX_AGE = timedelta(hours=8)
_SCOPE_KEY = "mailroute.session"


class CsrfError(PermissionError):
    """A form arrived without this session's CSRF token."""


@dataclass
class _RequestSession:
    """What one request knows of its session: read once, and the cookie to answer."""

    token: str | None
    loaded: bool = False
    record: BrowserSessionRecord | None = None
    set_cookie: str | None = None  # a new token to set, or "" to clear the cookie


class ServerSessions:
    """Pure ASGI: gives each request its `_RequestSession`, and answers its cookie."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secure = settings.public_base_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _RequestSession(_cookie_token(scope))
        scope[_SCOPE_KEY] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and state.set_cookie is not None:
                cookie = self._cookie(state.set_cookie).encode("latin-1")
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, token: str) -> str:
        max_age = int(SESSION_MAX_AGE.total_seconds()) if token else 0
        secure = "; Secure" if self.secure else ""
        return (
            f"{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        )


def _cookie_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name != b"cookie":
            continue
        for part in bytes(value).decode("latin-1").split(";"):
            key, _, token = part.strip().partition("=")
            if key == SESSION_COOKIE and token and len(token) <= 100:
                return str(token)
    return None


def install_sessions(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(ServerSessions, settings=settings)


def _services(request: Request) -> WebServices:
    ctx: WebServices = request.app.state.ctx
    return ctx


def _state(request: Request) -> _RequestSession:
    state = request.scope.get(_SCOPE_KEY)
    if not isinstance(state, _RequestSession):
        raise RuntimeError("ServerSessions middleware is not installed")
    return state


def current_session(request: Request) -> BrowserSessionRecord | None:
    """The live session of this browser, read from the database once per request."""
    state = _state(request)
    if not state.loaded:
        state.loaded = True
        if state.token is not None:
            state.record = _services(request).browser_sessions.find(state.token)
            if state.record is None:
                state.set_cookie = ""  # unknown, expired, signed out: forget the cookie
    return state.record


def _open(request: Request, admin: AdminUser | None) -> BrowserSessionRecord:
    opened = _services(request).browser_sessions.open(admin, SESSION_MAX_AGE)
    state = _state(request)
    state.loaded, state.record, state.set_cookie = True, opened.record, opened.token
    return opened.record


def _session(request: Request) -> BrowserSessionRecord:
    """This browser's session, opened (signed in to nobody) when it has none."""
    return current_session(request) or _open(request, None)


def session_id(request: Request) -> str:
    """This browser's session id, created on first use (it binds OAuth states)."""
    return _session(request).session_id


def existing_session_id(request: Request) -> str | None:
    record = current_session(request)
    return record.session_id if record else None


def sign_in(request: Request, admin: AdminUser) -> None:
    """A fresh session for `admin`; the session this browser had ends (never reuse an id
    across a login)."""
    before = current_session(request)
    if before is not None:
        _services(request).browser_sessions.end(before.session_id)
    _open(request, admin)


def signed_in_admin(request: Request) -> AdminUser | None:
    """The admin this browser is signed in as (still an admin of that company), or None."""
    record = current_session(request)
    return record.admin if record else None


def signed_in(request: Request) -> tuple[str, str] | None:
    """(company_id, user_id) of the signed-in admin, or None."""
    admin = signed_in_admin(request)
    return (admin.company_id, admin.user_id) if admin else None


def sign_out(request: Request) -> None:
    """End the session at once, server-side; the browser's cookie is cleared."""
    record = current_session(request)
    if record is not None:
        _services(request).browser_sessions.end(record.session_id)
    state = _state(request)
    state.record, state.set_cookie = None, ""


def csrf_token(request: Request) -> str:
    return _session(request).csrf


def check_csrf(request: Request, submitted: str | None) -> None:
    record = current_session(request)
    if record is None or not submitted:
        raise CsrfError("missing CSRF token")
    if not secrets.compare_digest(record.csrf.encode(), submitted.encode()):
        raise CsrfError("wrong CSRF token")


def flash(request: Request, kind: str, text: str, **extra: Any) -> None:
    """A notice shown once on the next page."""
    notices = _services(request).session_notices
    notices.push(_session(request).session_id, {"kind": kind, "text": text, **extra})


def pop_flash(request: Request) -> list[dict[str, Any]]:
    record = current_session(request)
    return _services(request).session_notices.pop(record.session_id) if record else []
