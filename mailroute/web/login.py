"""Signing in with a one-time login link (from `mailroute login-link`), and signing out.

GET  /login/{token}   a page naming who the link signs in (and who is signed in now, if
                      anyone), with a button; the GET spends nothing, so a link previewer
                      or a mail scanner that fetches the link does not use it up
POST /login/{token}   the button: with this browser's CSRF token, spends the link and
                      opens a fresh session (ending the one the browser had)
POST /logout          ends the session server-side at once
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mailroute.core.records import AdminUser
from mailroute.web.browser_session import (
    CsrfError,
    check_csrf,
    csrf_token,
    sign_in,
    sign_out,
    signed_in_admin,
)
from mailroute.web.page_access import FormField, Gmail, message_page
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
SETTINGS_PAGE = "/settings/email"


def _unusable(request: Request) -> Response:
    return message_page(
        request,
        "This login link cannot be used",
        "It is unknown, expired or already used. Run `mailroute login-link` for a new one.",
        400,
    )


def _company_name(gmail: Gmail, admin: AdminUser | None) -> str:
    company = gmail.companies.get(admin.company_id) if admin else None
    return company.name if company else ""


def _confirm_page(request: Request, gmail: Gmail, token: str, link_admin: AdminUser) -> Response:
    current = signed_in_admin(request)
    context = {
        "token": token,
        "link_admin": link_admin,
        "link_company": _company_name(gmail, link_admin),
        "current": current,
        "current_company": _company_name(gmail, current),
        "csrf": csrf_token(request),
    }
    return TEMPLATES.TemplateResponse(request, "login_confirm.html", context)


@router.get("/login/{token}")
def login_page(token: str, request: Request, gmail: Gmail) -> Response:
    """Who the link signs in, and a button to do it; the link is not used yet."""
    link_admin = gmail.login_links.peek(token)
    if link_admin is None:
        return _unusable(request)
    return _confirm_page(request, gmail, token, link_admin)


@router.post("/login/{token}")
def login(token: str, request: Request, gmail: Gmail, csrf: FormField = "") -> Response:
    """Spend the link and sign its admin in, when the form came from this browser's page."""
    try:
        check_csrf(request, csrf)
    except CsrfError:
        expired = "This sign-in form expired; the link was not used. Open the link again."
        return message_page(request, "Please try again", expired, 403)
    admin = gmail.login_links.consume(token)
    if admin is None:
        return _unusable(request)
    sign_in(request, admin)
    return RedirectResponse(SETTINGS_PAGE, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: FormField = "") -> Response:
    if signed_in_admin(request):
        try:
            check_csrf(request, csrf)
        except CsrfError:
            return RedirectResponse(SETTINGS_PAGE, status_code=303)
        sign_out(request)
    return message_page(request, "Signed out", "You are signed out of mailroute.", 200)
