"""The Email settings page (Settings > Company > Profile > Email), its forms, and the one-time
login that opens it. Server-rendered; every POST carries the session's CSRF token.

    GET  /login/{token}            one-time link from `mailroute login-link`
    GET  /settings/email           status, buttons, send form, recent emails
    POST /settings/email/connect   Sign in with Google / Re-authorize Sync (in a popup)
    POST /settings/email/check     Check now (JSON when asked for it: the page's auto-check)
    POST /settings/email/revoke    Revoke Access (after the confirm dialog)
    POST /settings/email/send      the send form, through the same intake as POST /v1/emails
    POST /settings/email/retry-failed        "Retry N emails that failed while Gmail was not
                                             connected" (shown after a re-authorization)
    POST /settings/email/emails/{id}/retry   one failed email, as POST /v1/emails/{id}/retry
    POST /logout
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mailroute.core.records import AdminUser
from mailroute.core.routing import SETTINGS_PATH
from mailroute.events import InvalidEventError
from mailroute.services.dispatching import (
    RetryRefused,
    count_failed_while_not_connected,
    redispatch_failed,
    retry_failed_while_not_connected,
)
from mailroute.services.email_settings import email_settings
from mailroute.web.browser_session import (
    CsrfError,
    check_csrf,
    csrf_token,
    flash,
    pop_flash,
    session_id,
    sign_in,
    sign_out,
    signed_in,
)
from mailroute.web.context import GmailWeb, gmail_web
from mailroute.web.correlation import correlation_id
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
Gmail = Annotated[GmailWeb, Depends(gmail_web)]
PAGE = "/settings/email"
VERIFY_AFTER = timedelta(minutes=1)


def _message(request: Request, title: str, text: str, status: int) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request, "message.html", {"title": title, "text": text}, status_code=status
    )


def _not_signed_in(request: Request) -> HTMLResponse:
    return _message(
        request,
        "Sign in to mailroute",
        "Open a login link to see this page: run `mailroute login-link --company <company id>`"
        " and open the URL it prints.",
        401,
    )


def _admin(request: Request, gmail: GmailWeb) -> AdminUser | None:
    who = signed_in(request)
    return gmail.login_links.admin(*who) if who else None


def _back() -> RedirectResponse:
    return RedirectResponse(PAGE, status_code=303)


def _guard(request: Request, gmail: GmailWeb, csrf: str | None) -> AdminUser | Response:
    admin = _admin(request, gmail)
    if admin is None:
        return _not_signed_in(request)
    try:
        check_csrf(request, csrf)
    except CsrfError:
        return _message(
            request, "Please try again", "The form expired. Reload the page and try again.", 403
        )
    return admin


@router.get("/login/{token}")
def login(token: str, request: Request, gmail: Gmail) -> Response:
    admin = gmail.login_links.consume(token)
    if admin is None:
        return _message(
            request,
            "This login link cannot be used",
            "It is unknown, expired or already used. Run `mailroute login-link` for a new one.",
            400,
        )
    sign_in(request, admin)
    return _back()


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if signed_in(request):
        try:
            check_csrf(request, csrf)
        except CsrfError:
            return _back()
        sign_out(request)
    return _message(request, "Signed out", "You are signed out of mailroute.", 200)


@router.get(PAGE, response_class=HTMLResponse)
def settings_email(request: Request, gmail: Gmail) -> Response:
    admin = _admin(request, gmail)
    if admin is None:
        return _not_signed_in(request)
    company = gmail.companies.get(admin.company_id)
    if company is None:
        return _not_signed_in(request)
    view = email_settings(
        gmail.connections.for_company(admin.company_id),
        company_name=company.name,
        default_from=gmail.settings.default_from,
    )
    now = datetime.now(UTC)
    # Only an active connection can have a "last break" behind it (generation - 1).
    retry_count = (
        count_failed_while_not_connected(admin.company_id, gmail.deps)
        if view.state == "active"
        else 0
    )
    verify_due = view.state == "active" and (
        view.last_verified_at is None or now - view.last_verified_at > VERIFY_AFTER
    )
    return TEMPLATES.TemplateResponse(
        request,
        "settings_email.html",
        {
            "company": company,
            "admin": admin,
            "view": view,
            "now": now,
            "verify_due": verify_due,
            "retry_count": retry_count,
            "emails": gmail.emails.recent(admin.company_id),
            "csrf": csrf_token(request),
            "notices": pop_flash(request),
            "settings_path": SETTINGS_PATH,
        },
    )


@router.post("/settings/email/connect")
def connect(
    request: Request,
    gmail: Gmail,
    csrf: Annotated[str, Form()] = "",
    switch_account: Annotated[str, Form()] = "",
) -> Response:
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return admin
    url = gmail.service.start_authorization(
        company_id=admin.company_id,
        user_id=admin.user_id,
        session_id=session_id(request),
        switch_account=bool(switch_account),
    )
    return RedirectResponse(url, status_code=303)


@router.post("/settings/email/check")
def check_now(request: Request, gmail: Gmail, csrf: Annotated[str, Form()] = "") -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return JSONResponse({"error": "forbidden"}, 403) if wants_json else admin
    before = gmail.connections.for_company(admin.company_id)
    result = gmail.service.verify(admin.company_id)
    after = result.record
    changed = (before.state if before else None) != (after.state if after else None)
    if wants_json:
        return JSONResponse({"state": after.state if after else "disconnected", "changed": changed})
    if result.problem:
        flash(request, "warning", f"Could not check the connection just now: {result.problem}")
    elif after is not None and after.state == "active":
        flash(request, "success", "Checked just now: the Gmail connection works.")
    return _back()


@router.post("/settings/email/revoke")
def revoke(request: Request, gmail: Gmail, csrf: Annotated[str, Form()] = "") -> Response:
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return admin
    before = gmail.connections.for_company(admin.company_id)
    gmail.service.revoke(admin.company_id)
    if before is not None and before.state != "disconnected":
        flash(
            request,
            "success",
            f"Gmail access for {before.address} was revoked. Emails now go from the default"
            " address.",
        )
    return _back()


@router.post("/settings/email/send")
def send(
    request: Request,
    gmail: Gmail,
    csrf: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    sender: Annotated[str, Form()] = "default",
) -> Response:
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return admin
    record = gmail.connections.for_company(admin.company_id)
    if sender == "gmail" and (record is None or record.state != "active"):
        flash(
            request,
            "error",
            "Gmail is not connected: choose the default address, or re-authorize Gmail first.",
        )
        return _back()
    data: dict[str, Any] = {
        "to": [a.strip() for a in to.split(",") if a.strip()],
        "subject": subject,
        "text": message,
        "sender": sender if sender in ("gmail", "default") else "default",
        "kind": "other",
    }
    try:
        accepted = gmail.intake.accept(
            data, company_id=admin.company_id, correlation_id=correlation_id(request)
        )
    except InvalidEventError as exc:
        problems = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        flash(request, "error", f"The email was not sent: {problems}")
        return _back()
    flash(request, "success", "Email accepted; its status appears below.", id=accepted.email_id)
    return _back()


def emails_phrase(count: int) -> str:
    """'1 email', '3 emails'."""
    return f"{count} email{'' if count == 1 else 's'}"


@router.post("/settings/email/retry-failed")
def retry_failed(request: Request, gmail: Gmail, csrf: Annotated[str, Form()] = "") -> Response:
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return admin
    queued = retry_failed_while_not_connected(admin.company_id, gmail.deps)
    if queued:
        flash(
            request,
            "success",
            f"{emails_phrase(queued)} queued to send again through Gmail; their status appears"
            " below.",
        )
    else:
        flash(request, "warning", "No emails are waiting to be retried.")
    return _back()


@router.post("/settings/email/emails/{email_id}/retry")
def retry_email(
    email_id: str, request: Request, gmail: Gmail, csrf: Annotated[str, Form()] = ""
) -> Response:
    admin = _guard(request, gmail, csrf)
    if not isinstance(admin, AdminUser):
        return admin
    try:
        uuid.UUID(email_id)
    except ValueError:
        outcome: object = RetryRefused(404, "not_found", "email_id", "uuid", "no such email")
    else:
        outcome = redispatch_failed(email_id, admin.company_id, gmail.deps)
    if isinstance(outcome, RetryRefused):
        flash(request, "error", f"The email was not retried: {outcome.message}", id=email_id)
    else:
        flash(request, "success", "Email queued to send again; its status appears below.")
    return _back()
