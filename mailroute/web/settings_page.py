"""The Email settings page (Settings > Company > Profile > Email), its forms, and the one-time
login that opens it (`login`). Server-rendered; every POST carries the session's CSRF token
(checked, with the sign-in, by `page_access` before a handler runs).

    GET  /settings/email           status, buttons, send form, recent emails
    POST /settings/email/connect   Sign in with Google / Re-authorize Sync (in a popup)
    POST /settings/email/check     Check now (JSON when asked for it: the page's auto-check);
                                   GMAIL_CHECKS_PER_MINUTE per company, then 429
    POST /settings/email/revoke    Revoke Access (after the confirm dialog)
    POST /settings/email/send      the send form, through the same intake as POST /v1/emails
    POST /settings/email/retry-failed        "Retry N emails that failed while Gmail was not
                                             connected" (shown after a re-authorization)
    POST /settings/email/emails/{id}/retry   one failed email, as POST /v1/emails/{id}/retry

The Microsoft 365 card's forms and the primary mailbox choice are `microsoft_page`'s.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mailroute.core.records import AdminUser
from mailroute.core.routing import SETTINGS_PATH
from mailroute.events import FieldProblem
from mailroute.services.connections import Revoked
from mailroute.services.dispatching import (
    RetryRefused,
    retry_failed_while_not_connected,
)
from mailroute.services.intake import Accepted
from mailroute.services.microsoft_connections import REVOCATION_AT_MICROSOFT
from mailroute.services.requested import DispatchOutcome
from mailroute.services.settings_page import (
    NOT_ACTIVE,
    ConnectionCheck,
    EmailSettingsPage,
    SendForm,
    check_connection,
    email_settings_page,
    retry_failed_email,
    revoke_access,
    send_from_settings_page,
)
from mailroute.web import login, microsoft_page, webhooks_page
from mailroute.web.browser_session import csrf_token, flash, pop_flash, session_id
from mailroute.web.check_limit import check_refused, refused_check
from mailroute.web.correlation import correlation_id
from mailroute.web.page_access import (
    CheckingAdmin,
    FormAdmin,
    FormField,
    Gmail,
    install_page_refusals,
    not_signed_in,
    page_admin,
    wants_json,
)
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
PAGE = "/settings/email"


def _back() -> RedirectResponse:
    return RedirectResponse(PAGE, status_code=303)


def _page(
    request: Request, admin: AdminUser, page: EmailSettingsPage, gmail: Gmail
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "settings_email.html",
        {
            **webhooks_page.page_context(gmail, admin.company_id),
            "company": page.company,
            "admin": admin,
            "view": page.view,
            "now": page.now,
            "verify_due": page.verify_due,
            "microsoft_verify_due": page.microsoft_verify_due,
            "revocation_note": REVOCATION_AT_MICROSOFT,
            "retry_count": page.retry_count,
            "emails": page.emails,
            "csrf": csrf_token(request),
            "notices": pop_flash(request),
            "settings_path": SETTINGS_PATH,
        },
    )


def _flash_checked(request: Request, check: ConnectionCheck) -> None:
    if check.problem:
        flash(request, "warning", f"Could not check the connection just now: {check.problem}")
    elif check.state == "active":
        flash(request, "success", "Checked just now: the Gmail connection works.")


def _flash_revoked(request: Request, revoked: Revoked | None) -> None:
    if revoked is not None and revoked.google_confirmed:
        flash(
            request,
            "success",
            f"Gmail access for {revoked.address} was revoked. Emails now go from the default"
            " address.",
        )
    elif revoked is not None:
        flash(
            request,
            "warning",
            f"Gmail access for {revoked.address} was removed from mailroute and its tokens"
            f" deleted; emails now go from the default address. {revoked.problem}",
        )


def _flash_sent(request: Request, sent: Accepted | list[FieldProblem]) -> None:
    if isinstance(sent, Accepted):
        flash(request, "success", "Email accepted; its status appears below.", id=sent.email_id)
    elif len(sent) == 1 and sent[0] in NOT_ACTIVE.values():
        flash(request, "error", sent[0].message)  # it says what to choose instead
    else:
        problems = "; ".join(f"{p.field}: {p.message}" for p in sent)
        flash(request, "error", f"The email was not sent: {problems}")


def emails_phrase(count: int) -> str:
    """'1 email', '3 emails'."""
    return f"{count} email{'' if count == 1 else 's'}"


def _flash_retried(request: Request, queued: int) -> None:
    if queued:
        flash(
            request,
            "success",
            f"{emails_phrase(queued)} queued to send again through Gmail; their status appears"
            " below.",
        )
    else:
        flash(request, "warning", "No emails are waiting to be retried.")


def _flash_retried_one(
    request: Request, email_id: str, outcome: DispatchOutcome | RetryRefused
) -> None:
    if isinstance(outcome, RetryRefused):
        flash(request, "error", f"The email was not retried: {outcome.message}", id=email_id)
    else:
        flash(request, "success", "Email queued to send again; its status appears below.")


@router.get(PAGE, response_class=HTMLResponse)
def settings_email(request: Request, gmail: Gmail) -> Response:
    admin = page_admin(request)
    page = email_settings_page(admin.company_id, gmail) if admin else None
    if admin is None or page is None:
        return not_signed_in(request)
    return _page(request, admin, page, gmail)


@router.post("/settings/email/connect")
def connect(
    request: Request, admin: FormAdmin, gmail: Gmail, switch_account: FormField = ""
) -> Response:
    url = gmail.service.start_authorization(
        company_id=admin.company_id,
        user_id=admin.user_id,
        session_id=session_id(request),
        switch_account=bool(switch_account),
    )
    return RedirectResponse(url, status_code=303)


@router.post("/settings/email/check")
def check_now(request: Request, admin: CheckingAdmin, gmail: Gmail) -> Response:
    refused = check_refused(gmail, admin.company_id)
    if refused is not None:
        return refused_check(request, refused, as_json=wants_json(request))
    check = check_connection(admin.company_id, gmail)
    if wants_json(request):
        return JSONResponse({"state": check.state, "changed": check.changed})
    _flash_checked(request, check)
    return _back()


@router.post("/settings/email/revoke")
def revoke(request: Request, admin: FormAdmin, gmail: Gmail) -> Response:
    _flash_revoked(request, revoke_access(admin.company_id, gmail))
    return _back()


@router.post("/settings/email/send")
def send(
    request: Request,
    admin: FormAdmin,
    gmail: Gmail,
    to: FormField = "",
    subject: FormField = "",
    message: FormField = "",
    sender: FormField = "default",
) -> Response:
    form = SendForm(to=to, subject=subject, message=message, sender=sender)
    sent = send_from_settings_page(
        admin.company_id, form, gmail, correlation_id=correlation_id(request)
    )
    _flash_sent(request, sent)
    return _back()


@router.post("/settings/email/retry-failed")
def retry_failed(request: Request, admin: FormAdmin, gmail: Gmail) -> Response:
    _flash_retried(request, retry_failed_while_not_connected(admin.company_id, gmail.deps))
    return _back()


@router.post("/settings/email/emails/{email_id}/retry")
def retry_email(email_id: str, request: Request, admin: FormAdmin, gmail: Gmail) -> Response:
    outcome = retry_failed_email(email_id, admin.company_id, gmail)
    _flash_retried_one(request, email_id, outcome)
    return _back()


def install(app: FastAPI) -> None:
    """Add the page's routes, and the answer to a form refused before its handler ran."""
    install_page_refusals(app)
    app.include_router(login.router)
    app.include_router(router)
    app.include_router(microsoft_page.router)
    app.include_router(webhooks_page.router)
