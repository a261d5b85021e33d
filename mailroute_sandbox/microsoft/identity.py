"""Microsoft's identity platform routes (login.microsoftonline.com): OpenID discovery, the
signing keys, the authorization endpoint with its consent page, and sign-out. The token
endpoint is in `token`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mailroute_sandbox.app import state_of
from mailroute_sandbox.consent import AuthRequestError, error_page
from mailroute_sandbox.microsoft import consent
from mailroute_sandbox.microsoft.errors import json_response

router = APIRouter()
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_SHARED_TENANTS = ("common", "organizations", "consumers")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
async def openid_configuration(tenant: str, request: Request) -> Response:
    base = _base(request)
    issuer_tenant = "{tenantid}" if tenant.lower() in _SHARED_TENANTS else tenant
    oauth = f"{base}/{tenant}/oauth2/v2.0"
    document: dict[str, Any] = {
        "issuer": f"{base}/{issuer_tenant}/v2.0",
        "authorization_endpoint": oauth + "/authorize",
        "token_endpoint": oauth + "/token",
        "device_authorization_endpoint": oauth + "/devicecode",
        "end_session_endpoint": oauth + "/logout",
        "jwks_uri": base + "/common/discovery/v2.0/keys",
        "userinfo_endpoint": base + "/graph/oidc/userinfo",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "name",
            "preferred_username",
            "email",
            "nonce",
            "oid",
            "tid",
            "ver",
        ],
        "request_uri_parameter_supported": False,
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return json_response(document)


@router.get("/common/discovery/v2.0/keys")
@router.get("/{tenant}/discovery/v2.0/keys")
async def keys(request: Request, tenant: str = "common") -> Response:
    found = state_of(request).microsoft.keys.jwks()
    for key in found["keys"]:
        key["issuer"] = _base(request) + "/{tenantid}/v2.0"
    return json_response(found)


def _page(request: Request, auth: consent.MsAuthRequest) -> HTMLResponse:
    context = consent.page_context(state_of(request).microsoft, auth, request.url.path)
    return HTMLResponse(_templates.get_template("microsoft_consent.html").render(**context))


@router.get("/{tenant}/oauth2/v2.0/authorize", response_model=None)
async def authorize(tenant: str, request: Request) -> Response:
    ms = state_of(request).microsoft
    try:
        auth = consent.parse_auth_request(ms, dict(request.query_params))
    except AuthRequestError as exc:
        return error_page(exc)
    return _page(request, auth)


@router.post("/{tenant}/oauth2/v2.0/authorize", response_model=None)
async def decide(tenant: str, request: Request) -> Response:
    ms = state_of(request).microsoft
    form = await request.form()
    params = {key: str(form[key]) for key in consent.AUTH_PARAMS if key in form}
    try:
        auth = consent.parse_auth_request(ms, params)
    except AuthRequestError as exc:
        return error_page(exc)
    if str(form.get("action", "accept")) == "cancel":
        return _answer(auth, consent.deny(auth), consent.denial_params(auth))
    email = str(form.get("account_email", "")).strip() or str(form.get("account", "")).strip()
    if "@" not in email:
        return _page(request, auth)
    url, params = consent.approve(ms, auth, email)
    return _answer(auth, url, params)


def _answer(auth: consent.MsAuthRequest, url: str, params: dict[str, str]) -> Response:
    """A 302 to the redirect URI, or with `response_mode=form_post` a page that posts there."""
    if not auth.form_post:
        return RedirectResponse(url, status_code=302)
    html = _templates.get_template("microsoft_form_post.html").render(
        action=auth.redirect_uri, fields=params
    )
    return HTMLResponse(html)


@router.get("/{tenant}/oauth2/v2.0/logout", response_model=None)
async def logout(tenant: str, request: Request) -> Response:
    """Signs the browser out and records it; refresh tokens stay valid, as at Microsoft."""
    ms = state_of(request).microsoft
    target = request.query_params.get("post_logout_redirect_uri")
    ms.record_sign_out(tenant, target, request.query_params.get("logout_hint"))
    if target:
        return RedirectResponse(target, status_code=302)
    return HTMLResponse(
        "<!doctype html><title>Signed out</title><p>You signed out of your account."
    )
