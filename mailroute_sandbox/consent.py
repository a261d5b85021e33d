"""The authorization endpoint: validate the request, show a Google-like consent page, redirect.

`GET /o/oauth2/v2/auth` renders the account chooser (or, with `sandbox_auto=<email>`, answers at
once); the page's form posts back to the same path. `approve` is shared with the
`POST /_sandbox/oauth/approve` control so tests without a browser get a code the same way.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from fastapi import APIRouter, Form, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mailroute_sandbox.app import state_of
from mailroute_sandbox.grant_records import AuthCode
from mailroute_sandbox.scopes import GMAIL_SEND, normalise, scope_text
from mailroute_sandbox.state import SandboxState

log = structlog.get_logger(__name__)
router = APIRouter()
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
AUTH_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
    "include_granted_scopes",
    "login_hint",
    "nonce",
)


class AuthRequestError(Exception):
    """The request cannot even be shown to the user: Google's error page, not a redirect."""

    def __init__(self, error: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str
    offline: bool
    prompt_consent: bool
    include_granted_scopes: bool
    login_hint: str | None
    nonce: str | None

    def hidden_fields(self) -> dict[str, str]:
        fields = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": scope_text(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method if self.code_challenge else None,
            "access_type": "offline" if self.offline else "online",
            "prompt": "consent" if self.prompt_consent else None,
            "include_granted_scopes": "true" if self.include_granted_scopes else None,
            "login_hint": self.login_hint,
            "nonce": self.nonce,
        }
        return {key: value for key, value in fields.items() if value is not None}


def parse_auth_request(state: SandboxState, params: dict[str, str]) -> AuthRequest:
    """Validate as Google does before showing anything; raise `AuthRequestError` if invalid."""
    client_id = params.get("client_id", "")
    if not client_id:
        raise AuthRequestError("invalid_request", "Missing required parameter: client_id")
    if client_id != state.client_id:
        raise AuthRequestError("invalid_client", "The OAuth client was not found.", 401)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise AuthRequestError("invalid_request", "Missing required parameter: redirect_uri")
    if not state.redirect_uri_allowed(redirect_uri):
        raise AuthRequestError(
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
            f"policy. Request details: redirect_uri={redirect_uri}",
        )
    if params.get("response_type", "") != "code":
        raise AuthRequestError(
            "unsupported_response_type",
            f"Invalid response_type: {params.get('response_type', '')}",
        )
    scopes = normalise(params.get("scope", "").split())
    if not scopes:
        raise AuthRequestError("invalid_request", "Missing required parameter: scope")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or "plain"
    if method not in ("S256", "plain"):
        raise AuthRequestError("invalid_request", f"Invalid code_challenge_method value: {method}")
    return AuthRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=params.get("state"),
        code_challenge=challenge,
        code_challenge_method=method,
        offline=params.get("access_type", "online") == "offline",
        prompt_consent="consent" in params.get("prompt", "").split(),
        include_granted_scopes=params.get("include_granted_scopes", "") == "true",
        login_hint=params.get("login_hint") or None,
        nonce=params.get("nonce") or None,
    )


def _redirect_to(redirect_uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return redirect_uri + separator + urlencode(params)


def deny(request: AuthRequest) -> str:
    """The redirect URL for Cancel: `error=access_denied` and the state."""
    params = {"error": "access_denied"}
    if request.state is not None:
        params["state"] = request.state
    return _redirect_to(request.redirect_uri, params)


def approve(
    state: SandboxState,
    request: AuthRequest,
    email: str,
    *,
    grant_send: bool,
    extra_scopes: Sequence[str] = (),
) -> tuple[str, str, tuple[str, ...]]:
    """Issue a code for `email`; return (redirect URL, code, granted scopes). `extra_scopes`
    are granted on top of those asked for (a consent that grants more than the app asked)."""
    account = state.accounts.ensure(email.strip())
    key = account.email.lower()
    granted = tuple(s for s in request.scopes if grant_send or s != GMAIL_SEND)
    granted = normalise((*granted, *extra_scopes))
    if request.include_granted_scopes:
        granted = normalise((*state.grants.previously_granted(key, request.client_id), *granted))
    code = state.grants.issue_code(
        AuthCode(
            code="4/0A" + secrets.token_urlsafe(54),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            account=key,
            scopes=granted,
            code_challenge=request.code_challenge,
            challenge_method=request.code_challenge_method,
            offline=request.offline,
            prompt_consent=request.prompt_consent,
            nonce=request.nonce,
        )
    )
    state.issued.add(key, "codes", code)
    params = {"code": code, "scope": scope_text(granted), "authuser": "0", "prompt": "consent"}
    if request.state is not None:
        params = {"state": request.state, **params}
    log.info("sandbox.oauth.approved", account=key, grant_send=grant_send)
    return _redirect_to(request.redirect_uri, params), code, granted


def error_page(error: AuthRequestError) -> HTMLResponse:
    html = _templates.get_template("error.html").render(
        error=error.error, detail=error.detail, status=error.status
    )
    return HTMLResponse(html, status_code=error.status)


def _consent_page(state: SandboxState, request: AuthRequest) -> HTMLResponse:
    accounts = [a for a in state.accounts.all() if not a.deleted]
    hint = (request.login_hint or "").lower()
    known = {a.email.lower() for a in accounts}
    selected = (
        hint if hint in known else (accounts[0].email.lower() if accounts and not hint else "")
    )
    html = _templates.get_template("consent.html").render(
        accounts=[
            {
                "email": a.email,
                "name": a.name,
                "dom_id": "account-" + "".join(c if c.isalnum() else "-" for c in a.email.lower()),
                "checked": a.email.lower() == selected,
                "verified": a.email_verified,
            }
            for a in accounts
        ],
        typed_email=request.login_hint if hint and hint not in known else "",
        asks_send=GMAIL_SEND in request.scopes,
        scopes=request.scopes,
        hidden=request.hidden_fields(),
    )
    return HTMLResponse(html)


@router.get("/o/oauth2/v2/auth", response_model=None)
async def authorize(request: Request) -> Response:
    state = state_of(request)
    params = dict(request.query_params)
    try:
        auth = parse_auth_request(state, params)
    except AuthRequestError as exc:
        log.info("sandbox.oauth.auth_refused", error=exc.error)
        return error_page(exc)
    auto = params.get("sandbox_auto")
    if auto:
        if params.get("sandbox_action", "allow") == "cancel":
            return RedirectResponse(deny(auth), status_code=302)
        grant_send = params.get("sandbox_grant_send", "1") not in ("0", "false", "")
        extra = params.get("sandbox_extra_scopes", "").split()
        url, _code, _granted = approve(state, auth, auto, grant_send=grant_send, extra_scopes=extra)
        return RedirectResponse(url, status_code=302)
    return _consent_page(state, auth)


@router.post("/o/oauth2/v2/auth", response_model=None)
async def decide(
    request: Request,
    action: Annotated[str, Form()] = "allow",
    account: Annotated[str, Form()] = "",
    account_email: Annotated[str, Form()] = "",
    grant_gmail_send: Annotated[str, Form()] = "",
) -> Response:
    state = state_of(request)
    form = await request.form()
    params = {key: str(form[key]) for key in AUTH_PARAMS if key in form}
    try:
        auth = parse_auth_request(state, params)
    except AuthRequestError as exc:
        return error_page(exc)
    if action == "cancel":
        return RedirectResponse(deny(auth), status_code=302)
    email = account_email.strip() or account.strip()
    if "@" not in email:
        return _consent_page(state, auth)
    url, _code, _granted = approve(state, auth, email, grant_send=bool(grant_gmail_send))
    return RedirectResponse(url, status_code=302)


def auth_params_from_url(url: str) -> dict[str, str]:
    """The query parameters of a full authorization URL (for the approve control)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
