"""Who may use the settings page: a signed-in admin (a server-side session opened by a login
link, ended at once when they stop being an admin), and for every form the session's CSRF
token. A refused form never reaches its handler: the dependency raises `PageRefusedError` and
`install_page_refusals` answers its response."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mailroute.bootstrap import WebServices
from mailroute.core.records import AdminUser
from mailroute.web.browser_session import CsrfError, check_csrf, signed_in_admin
from mailroute.web.context import context
from mailroute.web.templates import TEMPLATES

Gmail = Annotated[WebServices, Depends(context)]
FormField = Annotated[str, Form()]


class PageRefusedError(Exception):
    """A form refused before its handler ran (not signed in, no CSRF token); `response` is
    the answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def message_page(
    request: Request,
    title: str,
    text: str,
    status: int,
    *,
    back: bool = False,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page with one message (`back`: and a link to the settings page)."""
    return TEMPLATES.TemplateResponse(
        request,
        "message.html",
        {"title": title, "text": text, "back": back},
        status_code=status,
        headers=headers,
    )


def not_signed_in(request: Request) -> HTMLResponse:
    return message_page(
        request,
        "Sign in to mailroute",
        "Open a login link to see this page: run `mailroute login-link --company <company id>`"
        " and open the URL it prints.",
        401,
    )


def page_admin(request: Request) -> AdminUser | None:
    """The admin this browser is signed in as, while they are still an admin."""
    return signed_in_admin(request)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _form_admin(request: Request, csrf: FormField = "") -> AdminUser:
    """The signed-in admin who sent this form with the session's CSRF token."""
    admin = page_admin(request)
    if admin is None:
        raise PageRefusedError(not_signed_in(request))
    try:
        check_csrf(request, csrf)
    except CsrfError:
        expired = "The form expired. Reload the page and try again."
        raise PageRefusedError(message_page(request, "Please try again", expired, 403)) from None
    return admin


def _checking_admin(request: Request, csrf: FormField = "") -> AdminUser:
    """As `_form_admin`; the refusal is JSON when the page's auto-check asks for JSON."""
    try:
        return _form_admin(request, csrf)
    except PageRefusedError:
        if wants_json(request):
            raise PageRefusedError(JSONResponse({"error": "forbidden"}, 403)) from None
        raise


# The admin behind a form (`csrf` is one of its fields); the second for the Check now form.
FormAdmin = Annotated[AdminUser, Depends(_form_admin)]
CheckingAdmin = Annotated[AdminUser, Depends(_checking_admin)]


def install_page_refusals(app: FastAPI) -> None:
    @app.exception_handler(PageRefusedError)
    async def _refused(_: Request, exc: PageRefusedError) -> Response:
        return exc.response
