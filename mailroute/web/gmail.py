"""Gmail connection routes (installed by `create_app`): the JSON API for a company's connection,
Google's OAuth callback, and (from `settings_page`) the Email settings page.

    POST /v1/gmail/authorize   admin key  -> {"authorization_url"}; binds this client's session
    GET  /oauth/google/callback            completes it; a small page for the popup
    POST /v1/gmail/revoke      admin key  -> tokens deleted, disconnected, Google's revoke
                                             (confirmed or not: the clock keeps asking)
    POST /v1/gmail/verify      any key    -> a token refresh now (Check now; limited per company)
    GET  /v1/email-settings    any key    -> state, address, from_options, last verified, reason
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from mailroute.bootstrap import WebServices
from mailroute.services.connections import AuthorizationRefusedError, BrowserSession
from mailroute.web import settings_page
from mailroute.web.api_models import AUTHENTICATED, error_responses
from mailroute.web.auth import Admin, Caller
from mailroute.web.browser_session import existing_session_id, session_id, signed_in
from mailroute.web.check_limit import limit_checks
from mailroute.web.context import context
from mailroute.web.email_models import (
    AuthorizationStarted,
    AuthorizeRequest,
    EmailSettingsView,
    RevokeResult,
    VerifyResult,
)
from mailroute.web.mailbox_settings import GONE, settings_json
from mailroute.web.templates import TEMPLATES

api = APIRouter(prefix="/v1", tags=["gmail connection"])
oauth = APIRouter(tags=["gmail connection"])
Gmail = Annotated[WebServices, Depends(context)]


_GONE = GONE


@api.post(
    "/gmail/authorize",
    summary="Start Sign in with Google (admin)",
    response_model=AuthorizationStarted,
    responses=error_responses(*AUTHENTICATED, 403, 415),
)
def authorize(
    request: Request, caller: Admin, gmail: Gmail, body: AuthorizeRequest | None = None
) -> dict[str, Any]:
    """Google's consent URL for this company. The state is bound to this client's session
    cookie (set on this response): complete the flow with the same cookie jar."""
    url = gmail.service.start_authorization(
        company_id=caller.company_id,
        user_id=caller.user_id,
        session_id=session_id(request),
        switch_account=body.switch_account if body else False,
    )
    return {"authorization_url": url, "expires_in": 600}


@api.post(
    "/gmail/revoke",
    summary="Revoke Access (admin)",
    response_model=RevokeResult,
    responses=error_responses(401, 403, 404, 413, s404=_GONE),
)
def revoke(caller: Admin, gmail: Gmail) -> dict[str, Any]:
    """Delete both tokens, disconnect (the default sender takes over), ask Google to forget
    the grant. `revocation` (null when nothing was connected) says whether Google confirmed;
    what it did not confirm, mailroute keeps asking until it does."""
    revoked = gmail.service.revoke(caller.company_id)
    revocation = None
    if revoked.address is not None:
        revocation = {
            "address": revoked.address,
            "google_confirmed": revoked.google_confirmed,
            "problem": revoked.problem,
        }
    return {**settings_json(gmail, caller.company_id), "revocation": revocation}


@api.post(
    "/gmail/verify",
    summary="Check the connection now",
    response_model=VerifyResult,
    responses=error_responses(401, 404, 413, 429, s404=_GONE),
)
def verify(caller: Caller, gmail: Gmail) -> dict[str, Any]:
    """Refresh the token now; a refused grant moves the connection to not_connected. At most
    GMAIL_CHECKS_PER_MINUTE a minute per company (with the settings page's Check now), then
    429 with Retry-After."""
    limit_checks(gmail, caller.company_id)
    result = gmail.service.verify(caller.company_id)
    return {
        **settings_json(gmail, caller.company_id),
        "checked": result.checked,
        "problem": result.problem,
    }


@api.get(
    "/email-settings",
    summary="The company's Email settings",
    response_model=EmailSettingsView,
    responses=error_responses(401, 404, 413, s404=_GONE),
)
def get_email_settings(caller: Caller, gmail: Gmail) -> dict[str, Any]:
    return settings_json(gmail, caller.company_id)


def _browser_session(request: Request) -> BrowserSession:
    """The browser the callback came to: its session id and signed-in company, if any."""
    who = signed_in(request)
    return BrowserSession(existing_session_id(request), who[0] if who else None)


def _oauth_result(request: Request, result: dict[str, Any], status: int = 200) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "oauth_result.html", result, status_code=status)


@oauth.get("/oauth/google/callback", response_class=HTMLResponse, include_in_schema=False)
def google_callback(request: Request, gmail: Gmail) -> HTMLResponse:
    """Where Google sends the admin back; answers a page for the popup window."""
    params = {k: v for k, v in request.query_params.items() if k in ("state", "code", "error")}
    try:
        record = gmail.service.complete_authorization(params, _browser_session(request))
    except AuthorizationRefusedError as exc:
        refused = {"ok": False, "code": exc.code, "message": exc.message}
        return _oauth_result(request, refused, exc.status)
    return _oauth_result(request, {"ok": True, "address": record.address})


def install(app: FastAPI) -> None:
    """Add the Gmail connection routes, the settings page and its static files to `app`."""
    app.include_router(api)
    app.include_router(oauth)
    settings_page.install(app)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
