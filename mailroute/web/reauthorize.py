"""The mailbox owner's re-authorization link, from a break's notice; no admin session needed.

GET  /reauthorize/{token}   a page naming the mailbox and the account to sign in as, with a
                            button; the GET spends nothing (link scanners and previewers fetch)
POST /reauthorize/{token}   the button: with this browser's CSRF token, starts the provider's
                            sign-in for that account, bound to this browser's session; the
                            provider's callback spends the link when it connects that account
"""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mailroute.bootstrap import WebServices
from mailroute.core.providers import provider
from mailroute.core.reauthorization import ReauthorizationLink
from mailroute.services.reauthorization import Reauthorization
from mailroute.web.browser_session import CsrfError, check_csrf, csrf_token, session_id
from mailroute.web.page_access import FormField, Gmail, message_page
from mailroute.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
_WHO = {"gmail": "Google", "microsoft": "Microsoft"}


def _service(ctx: WebServices) -> Reauthorization | None:
    """The use case, when this web app was built with it."""
    found = getattr(ctx, "reauthorization", None)
    return found if isinstance(found, Reauthorization) else None


def _unusable(request: Request) -> Response:
    return message_page(
        request,
        "This re-authorization link cannot be used",
        "It is unknown, expired or already used, or the mailbox was re-authorized meanwhile."
        " An admin of your company can re-authorize it from mailroute's Email settings page.",
        400,
    )


def _confirm_page(
    request: Request, ctx: WebServices, token: str, link: ReauthorizationLink
) -> Response:
    company = ctx.companies.get(link.company_id)
    context = {
        "token": token,
        "link": link,
        "label": provider(link.provider).label,
        "who": _WHO.get(link.provider, link.provider),
        "company": company.name if company else "Your company",
        "expires": link.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "csrf": csrf_token(request),
    }
    return TEMPLATES.TemplateResponse(request, "reauthorize_confirm.html", context)


@router.get("/reauthorize/{token}")
def reauthorize_page(token: str, request: Request, ctx: Gmail) -> Response:
    """What the link re-authorizes, and a button; the link is not used."""
    service = _service(ctx)
    link = service.peek(token) if service else None
    if link is None:
        return _unusable(request)
    return _confirm_page(request, ctx, token, link)


@router.post("/reauthorize/{token}")
def reauthorize(token: str, request: Request, ctx: Gmail, csrf: FormField = "") -> Response:
    """Start the sign-in, when the form came from this browser's page."""
    try:
        check_csrf(request, csrf)
    except CsrfError:
        expired = "This form expired; the link was not used. Open the link again."
        return message_page(request, "Please try again", expired, 403)
    service = _service(ctx)
    url = service.start(token, session_id=session_id(request)) if service else None
    if url is None:
        return _unusable(request)
    return RedirectResponse(url, status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
