"""The Microsoft 365 card of the Email settings page, and the choice of the primary mailbox.
Every POST carries the session's CSRF token (checked by `page_access` before a handler runs).

    POST /settings/email/microsoft/connect   Sign in with Microsoft / Re-authorize (in a popup)
    POST /settings/email/microsoft/check     Check now (JSON for the page's auto-check); counted
                                             with Gmail's checks per company, then 429
    POST /settings/email/microsoft/revoke    Revoke Access (after the confirm dialog)
    POST /settings/email/primary             the mailbox `auto` sends from ("" = automatic)

Connecting answers a page that moves on to Microsoft (a refresh and a link) rather than a
redirect: browsers apply the page's `form-action` policy to a form's redirects, and that policy
names only this origin and Google's consent page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from mailroute.bootstrap import WebServices
from mailroute.core.errors import MailrouteError
from mailroute.core.providers import MICROSOFT, PROVIDERS
from mailroute.core.records import AdminUser
from mailroute.services.microsoft_connections import MicrosoftRevoked
from mailroute.services.settings_page import (
    check_connection,
    revoke_microsoft,
    set_primary_mailbox,
)
from mailroute.web.browser_session import flash, session_id
from mailroute.web.check_limit import check_refused, refused_check
from mailroute.web.page_access import (
    CheckingAdmin,
    FormAdmin,
    FormField,
    Gmail,
    message_page,
    wants_json,
)
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
PAGE = "/settings/email"
CARD = PAGE + "#microsoft-card"
NOT_AVAILABLE = (
    "Sign in with Microsoft is not available on this server: its administrator has not set up"
    " a Microsoft app registration (MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET)."
)


def _back(to: str = CARD) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def _flash_revoked(request: Request, revoked: MicrosoftRevoked | None) -> None:
    if revoked is None:
        return
    links = [
        {"href": revoked.remove_app_work_or_school, "text": "Remove mailroute (work or school)"},
        {"href": revoked.remove_app_personal, "text": "Remove mailroute (personal account)"},
    ]
    if revoked.sign_out_url:
        links.append({"href": revoked.sign_out_url, "text": "Sign out of Microsoft"})
    flash(
        request,
        "success",
        f"{MICROSOFT.label} access for {revoked.address} was revoked in mailroute: its tokens"
        " are deleted and emails now go from the default address. Microsoft itself revokes"
        " nothing for apps like mailroute: mailroute's permission stays in the Microsoft account"
        " until it is removed there.",
        links=links,
    )


def _start(request: Request, admin: AdminUser, ctx: WebServices, switch_account: bool) -> Response:
    """The step to Microsoft's sign-in, or the page saying why it cannot be taken now."""
    if ctx.microsoft is None:
        return message_page(request, "Not available", NOT_AVAILABLE, 503, back=True)
    try:
        url = ctx.microsoft.start_authorization(
            company_id=admin.company_id,
            user_id=admin.user_id,
            session_id=session_id(request),
            switch_account=switch_account,
        )
    except MailrouteError as exc:
        text = f"Microsoft's sign-in could not be started just now: {exc.message}"
        return message_page(request, "Please try again", text, 503, back=True)
    return TEMPLATES.TemplateResponse(
        request, "oauth_continue.html", {"url": url, "who": "Microsoft"}
    )


@router.post("/settings/email/microsoft/connect")
def connect(
    request: Request, admin: FormAdmin, ctx: Gmail, switch_account: FormField = ""
) -> Response:
    return _start(request, admin, ctx, bool(switch_account))


@router.post("/settings/email/microsoft/check")
def check_now(request: Request, admin: CheckingAdmin, ctx: Gmail) -> Response:
    refused = check_refused(ctx, admin.company_id, "microsoft")
    if refused is not None:
        return refused_check(request, refused, as_json=wants_json(request))
    check = check_connection(admin.company_id, ctx, MICROSOFT.name)
    if wants_json(request):
        return JSONResponse({"state": check.state, "changed": check.changed})
    if check.problem:
        flash(request, "warning", f"Could not check the connection just now: {check.problem}")
    elif check.state == "active":
        flash(request, "success", f"Checked just now: the {MICROSOFT.label} connection works.")
    return _back()


@router.post("/settings/email/microsoft/revoke")
def revoke(request: Request, admin: FormAdmin, ctx: Gmail) -> Response:
    _flash_revoked(request, revoke_microsoft(admin.company_id, ctx))
    return _back()


def _flash_primary(request: Request, provider: str, changed: bool) -> None:
    auto = "Emails sent with the sender \u201cauto\u201d now go from"
    if not changed:
        flash(request, "error", "The primary mailbox was not changed: unknown mailbox.")
    elif provider:
        flash(request, "success", f"{auto} {PROVIDERS[provider].label}.")
    else:
        flash(
            request, "success", f"{auto} the first connected mailbox (Gmail, then Microsoft 365)."
        )


@router.post("/settings/email/primary")
def primary(request: Request, admin: FormAdmin, ctx: Gmail, provider: FormField = "") -> Response:
    _flash_primary(request, provider, set_primary_mailbox(admin.company_id, provider, ctx))
    return _back(PAGE + "#primary-mailbox")
