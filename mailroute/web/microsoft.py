"""Microsoft 365 connection routes (installed by `create_app`, beside Gmail's): the JSON API for
a company's Microsoft mailbox and Microsoft's OAuth callback.

    POST /v1/microsoft/authorize  admin key -> {"authorization_url"}; binds this client's session
    GET  /oauth/microsoft/callback          completes it; the popup's result page
    POST /v1/microsoft/revoke     admin key -> tokens deleted, disconnected; Microsoft revokes
                                             nothing (it cannot): what is left to do there
    POST /v1/microsoft/verify     any key   -> a token renewal now (limited per company, with
                                             the Gmail checks)

When this server has no Microsoft app registration, each answers 503 `microsoft_not_configured`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from mailroute.bootstrap import WebServices
from mailroute.core.errors import MailrouteError, TransientError
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.microsoft_connections import MicrosoftConnections, MicrosoftRevoked
from mailroute.services.oauth_callback import BrowserSession
from mailroute.web.api_models import AUTHENTICATED, error_responses
from mailroute.web.auth import Admin, Caller
from mailroute.web.browser_session import existing_session_id, session_id, signed_in
from mailroute.web.check_limit import limit_checks
from mailroute.web.context import context
from mailroute.web.email_models import AuthorizationStarted, AuthorizeRequest, VerifyResult
from mailroute.web.errors import ApiError
from mailroute.web.mailbox_settings import GONE, settings_json
from mailroute.web.microsoft_models import MicrosoftRevokeResult
from mailroute.web.templates import TEMPLATES

api = APIRouter(prefix="/v1", tags=["microsoft 365 connection"])
oauth = APIRouter(tags=["microsoft 365 connection"])
Ctx = Annotated[WebServices, Depends(context)]
LABEL = "Microsoft 365"
NOT_CONFIGURED = (
    "this server is not set up to sign in with Microsoft: set MICROSOFT_CLIENT_ID and"
    " MICROSOFT_CLIENT_SECRET"
)
_S503 = (
    "Sign in with Microsoft is not set up on this server (`microsoft_not_configured`), or"
    " Microsoft's identity platform (or PostgreSQL) is unavailable just now."
)


def service_of(ctx: WebServices) -> MicrosoftConnections:
    """The Microsoft use cases, or the 503 of a server without a Microsoft app registration."""
    if ctx.microsoft is None:
        raise ApiError(503, "microsoft_not_configured", NOT_CONFIGURED)
    return ctx.microsoft


def _start(request: Request, caller: Admin, ctx: WebServices, switch_account: bool) -> str:
    try:
        return service_of(ctx).start_authorization(
            company_id=caller.company_id,
            user_id=caller.user_id,
            session_id=session_id(request),
            switch_account=switch_account,
        )
    except TransientError as exc:
        raise ApiError(503, "microsoft_unavailable", exc.message) from exc
    except MailrouteError as exc:  # Microsoft refused the app registration or authority
        raise ApiError(503, exc.code, exc.message) from exc


def revocation_json(revoked: MicrosoftRevoked) -> dict[str, Any] | None:
    if revoked.address is None:
        return None
    return {
        "address": revoked.address,
        "revoked_at_microsoft": False,
        "explanation": revoked.explanation,
        "sign_out_url": revoked.sign_out_url,
        "remove_app_work_or_school": revoked.remove_app_work_or_school,
        "remove_app_personal": revoked.remove_app_personal,
    }


@api.post(
    "/microsoft/authorize",
    summary="Start Sign in with Microsoft (admin)",
    response_model=AuthorizationStarted,
    responses=error_responses(*AUTHENTICATED, 403, 415, s503=_S503),
)
def authorize(
    request: Request, caller: Admin, ctx: Ctx, body: AuthorizeRequest | None = None
) -> dict[str, Any]:
    """Microsoft's sign-in URL for this company (work, school and personal accounts). The state
    is bound to this client's session cookie (set on this response): complete the flow with
    the same cookie jar."""
    url = _start(request, caller, ctx, body.switch_account if body else False)
    return {"authorization_url": url, "expires_in": 600}


@api.post(
    "/microsoft/revoke",
    summary="Revoke Microsoft 365 access (admin)",
    response_model=MicrosoftRevokeResult,
    responses=error_responses(401, 403, 404, 413, s404=GONE, s503=_S503),
)
def revoke(caller: Admin, ctx: Ctx) -> dict[str, Any]:
    """Delete every token and disconnect (the default sender takes over). Microsoft has no
    token revocation for these apps: `revocation` says so, where the account's owner removes
    mailroute's permission, and gives Microsoft's sign-out URL."""
    revoked = service_of(ctx).revoke(caller.company_id)
    return {**settings_json(ctx, caller.company_id), "revocation": revocation_json(revoked)}


@api.post(
    "/microsoft/verify",
    summary="Check the Microsoft 365 connection now",
    response_model=VerifyResult,
    responses=error_responses(401, 404, 413, 429, s404=GONE, s503=_S503),
)
def verify(caller: Caller, ctx: Ctx) -> dict[str, Any]:
    """Renew the token now; a refused grant moves the connection to not_connected. Counted
    with the Gmail checks: GMAIL_CHECKS_PER_MINUTE a minute per company, then 429."""
    service = service_of(ctx)
    limit_checks(ctx, caller.company_id, "microsoft")
    result = service.verify(caller.company_id)
    extra = {"checked": result.checked, "problem": result.problem}
    return {**settings_json(ctx, caller.company_id), **extra}


def callback_result(request: Request, ctx: WebServices) -> tuple[dict[str, Any], int]:
    """Complete the sign-in the callback answers: the result page's values and status."""
    if ctx.microsoft is None:
        return {"ok": False, "code": "microsoft_not_configured", "message": NOT_CONFIGURED}, 503
    params = {k: v for k, v in request.query_params.items() if k in ("state", "code", "error")}
    who = signed_in(request)
    session = BrowserSession(existing_session_id(request), who[0] if who else None)
    try:
        record = ctx.microsoft.complete_authorization(params, session)
    except AuthorizationRefusedError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}, exc.status
    return {"ok": True, "address": record.address}, 200


@oauth.get("/oauth/microsoft/callback", response_class=HTMLResponse, include_in_schema=False)
def microsoft_callback(request: Request, ctx: Ctx) -> HTMLResponse:
    """Where Microsoft sends the admin back; answers a page for the popup window."""
    result, status = callback_result(request, ctx)
    return TEMPLATES.TemplateResponse(
        request, "oauth_result.html", {**result, "label": LABEL}, status_code=status
    )


def install(app: FastAPI) -> None:
    """Add the Microsoft 365 connection routes to `app`."""
    app.include_router(api)
    app.include_router(oauth)
