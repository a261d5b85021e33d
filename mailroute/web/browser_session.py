"""The browser session of the settings page: a signed cookie (Starlette's SessionMiddleware,
HttpOnly, SameSite=Lax) holding a random session id, the signed-in admin, a CSRF token and
one-shot notices."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mailroute.config.settings import Settings
from mailroute.core.records import AdminUser

SESSION_COOKIE = "mailroute_session"
SESSION_MAX_AGE = timedelta(hours=8)


class CsrfError(PermissionError):
    """A form arrived without this session's CSRF token."""


class AppSessionMiddleware:
    """Starlette's SessionMiddleware, built on the first request from the settings the app was
    created with (`app.state.ctx.settings`, set by the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inner: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        if self._inner is None:
            settings: Settings = scope["app"].state.ctx.settings
            self._inner = SessionMiddleware(
                self._app,
                secret_key=settings.secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=int(SESSION_MAX_AGE.total_seconds()),
                same_site="lax",
                https_only=settings.public_base_url.startswith("https://"),
            )
        await self._inner(scope, receive, send)


def install_sessions(app: FastAPI) -> None:
    app.add_middleware(AppSessionMiddleware)


def session_id(request: Request) -> str:
    """This browser's session id, created on first use (it binds OAuth states)."""
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        sid = secrets.token_urlsafe(24)
        request.session["sid"] = sid
    return sid


def existing_session_id(request: Request) -> str | None:
    sid = request.session.get("sid")
    return sid if isinstance(sid, str) else None


def sign_in(request: Request, admin: AdminUser) -> None:
    """A fresh session for `admin` (never reuse a session id across a login)."""
    request.session.clear()
    request.session.update(
        sid=secrets.token_urlsafe(24),
        company_id=admin.company_id,
        user_id=admin.user_id,
        email=admin.email,
        csrf=secrets.token_urlsafe(24),
    )


def signed_in(request: Request) -> tuple[str, str] | None:
    """(company_id, user_id) of the signed-in admin, or None."""
    company_id, user_id = request.session.get("company_id"), request.session.get("user_id")
    if isinstance(company_id, str) and isinstance(user_id, str):
        return company_id, user_id
    return None


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        raise CsrfError("missing CSRF token")
    if not secrets.compare_digest(expected, submitted):
        raise CsrfError("wrong CSRF token")


def flash(request: Request, kind: str, text: str, **extra: Any) -> None:
    """A notice shown once on the next page."""
    notices = list(request.session.get("flash", []))
    notices.append({"kind": kind, "text": text, **extra})
    request.session["flash"] = notices[-5:]


def pop_flash(request: Request) -> list[dict[str, Any]]:
    notices = request.session.pop("flash", [])
    return notices if isinstance(notices, list) else []
