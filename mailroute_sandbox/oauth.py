"""Google's OAuth token side: `/token`, `/revoke`, the signing certificates and userinfo.

Client authentication is accepted as a Basic header (requests-oauthlib) or form fields
(google-auth). Errors are Google's `{"error", "error_description"}` bodies (research §3.3).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox import clock, errors
from mailroute_sandbox.app import state_of
from mailroute_sandbox.grant_records import Grant, OAuthError
from mailroute_sandbox.limits import ApiFault
from mailroute_sandbox.scopes import (
    GMAIL_SEND,
    IDENTITY_SCOPES,
    USERINFO_EMAIL,
    USERINFO_PROFILE,
    scope_text,
)
from mailroute_sandbox.state import SandboxState

log = structlog.get_logger(__name__)
router = APIRouter()
ISSUER = "https://accounts.google.com"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    for key, value in request.query_params.items():
        fields.setdefault(key, value)
    return fields


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            return None, None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _id_token(state: SandboxState, grant: Grant, access_token: str, nonce: str | None) -> str:
    account = state.accounts.get(grant.account)
    issued = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "azp": grant.client_id,
        "aud": grant.client_id,
        "sub": account.sub if account else grant.account,
        "at_hash": _at_hash(access_token),
        "iat": issued,
        "exp": issued + 3599,
    }
    if account is not None and USERINFO_EMAIL in grant.scopes:
        claims["email"] = account.claimed_email
        claims["email_verified"] = account.email_verified
    if account is not None and USERINFO_PROFILE in grant.scopes:
        first, _, last = account.name.partition(" ")
        claims.update(name=account.name, given_name=first, family_name=last or first)
    if nonce:
        claims["nonce"] = nonce
    signed = state.keys.sign(claims)
    state.issued.add(grant.account, "id_tokens", signed)
    return signed


def _token_payload(
    state: SandboxState,
    grant: Grant,
    scopes: tuple[str, ...],
    *,
    with_refresh: bool,
    nonce: str | None = None,
) -> dict[str, Any]:
    lifetime = state.settings.access_token_lifetime
    access = state.grants.issue_access_token(grant, scopes, lifetime)
    state.issued.add(grant.account, "access_tokens", access)
    payload: dict[str, Any] = {
        "access_token": access,
        "expires_in": lifetime,
        "scope": scope_text(scopes),
        "token_type": "Bearer",
    }
    if with_refresh and grant.refresh_token:
        payload["refresh_token"] = grant.refresh_token
        state.issued.add(grant.account, "refresh_tokens", grant.refresh_token)
    # A refresh token with an end (testing mode) says how long it has left, on every answer.
    left = grant.refresh_expires_in(clock.now())
    if left is not None:
        payload["refresh_token_expires_in"] = left
    if "openid" in grant.scopes:
        payload["id_token"] = _id_token(state, grant, access, nonce)
    return payload


async def _token_fault(fault: ApiFault) -> Response:
    """Google's OAuth error body for an injected fault of the token or revoke endpoint."""
    if fault.kind == "timeout":
        await asyncio.sleep(fault.hang_seconds)
        return errors.oauth_error(503, "temporarily_unavailable", "The service is unavailable.")
    if fault.kind == 429:
        return errors.oauth_error(429, "rate_limit_exceeded", "Rate Limit Exceeded")
    if fault.kind == 500:
        return errors.oauth_error(500, "internal_failure", "Backend Error")
    status = fault.kind if isinstance(fault.kind, int) else 503  # Gmail-only kinds never get here
    return errors.oauth_error(status, "temporarily_unavailable", "The service is unavailable.")


@router.post("/token")
async def token(request: Request) -> Response:
    state = state_of(request)
    form = await _form(request)
    client_id, secret = _client_credentials(request, form)
    grant_type = form.get("grant_type", "")
    if state.settings.token_latency_ms:
        await asyncio.sleep(state.settings.token_latency_ms / 1000)
    if grant_type == "authorization_code":
        account = state.grants.code_account(form.get("code", ""))
        state.issued.add(account, "code_verifiers", form.get("code_verifier"))
    else:
        account = state.grants.refresh_account(form.get("refresh_token", ""))
    fault = state.faults.take("token", account)
    if fault is not None:
        state.counters.injected()
        log.info("sandbox.token.fault_injected", kind=fault.kind, account=account)
        return await _token_fault(fault)
    try:
        if not client_id:
            raise OAuthError(400, "invalid_request", "Could not determine client ID from request.")
        if client_id != state.client_id:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if secret != state.client_secret:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        if grant_type == "authorization_code":
            return _exchange_code(state, form, client_id)
        if grant_type == "refresh_token":
            return _refresh(state, form, client_id, account)
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    except OAuthError as exc:
        if grant_type == "refresh_token" and account is not None:
            state.counters.bump("token_refresh_failures", account)
        log.info("sandbox.token.refused", error=exc.error, grant_type=grant_type, account=account)
        return errors.oauth_error(exc.status, exc.error, exc.description)


def _exchange_code(state: SandboxState, form: dict[str, str], client_id: str) -> Response:
    code = form.get("code", "")
    if not code:
        raise OAuthError(400, "invalid_request", "Missing required parameter: code")
    grant, auth_code = state.grants.redeem_code(
        code, client_id, form.get("redirect_uri"), form.get("code_verifier")
    )
    # Testing mode: a refresh token for more than name, email and profile ends after the
    # configured lifetime (Google: 7 days), and every token answer says so.
    testing = state.settings.testing_mode and not set(grant.scopes) <= IDENTITY_SCOPES
    if testing and grant.refresh_token:
        state.grants.limit_refresh_token(grant, state.settings.refresh_token_lifetime_seconds)
    payload = _token_payload(state, grant, grant.scopes, with_refresh=True, nonce=auth_code.nonce)
    state.counters.bump("token_exchanges", grant.account)
    log.info(
        "sandbox.token.exchanged",
        account=grant.account,
        offline=grant.refresh_token is not None,
        send_granted=GMAIL_SEND in grant.scopes,
    )
    return errors.json_response(payload)


def _refresh(
    state: SandboxState, form: dict[str, str], client_id: str, account: str | None
) -> Response:
    refresh_token = form.get("refresh_token", "")
    if not refresh_token:
        raise OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
    grant, scopes = state.grants.grant_for_refresh(refresh_token, client_id, form.get("scope"))
    payload = _token_payload(state, grant, scopes, with_refresh=False)
    state.counters.bump("token_refreshes", grant.account)
    log.info("sandbox.token.refreshed", account=account)
    return errors.json_response(payload)


async def _revoke(request: Request) -> Response:
    state = state_of(request)
    form = await _form(request)
    token_value = form.get("token", "")
    account = state.grants.refresh_account(token_value)
    kind = "refresh_token" if account else "unknown"
    if account is None:
        access = state.grants.access_token(token_value)
        account = access.account if access else None
        kind = "access_token" if access else kind
    fault = state.faults.take("revoke", account)
    if fault is not None:
        state.counters.injected()
        state.counters.bump("revoke_failures", account)
        answer = await _token_fault(fault)
        state.revocations.record(account, token_value, kind, answer.status_code, "injected")
        log.info("sandbox.revoke.fault_injected", kind=fault.kind, account=account)
        return answer
    if not token_value or not state.grants.revoke_token(token_value):
        state.revocations.record(account, token_value, kind, 400, "invalid_token")
        return errors.oauth_error(400, "invalid_token", "Token expired or revoked")
    state.revocations.record(account, token_value, kind, 200, None)
    state.counters.bump("revokes", account)
    log.info("sandbox.token.revoked", account=account)
    return errors.json_response({})


router.add_api_route("/revoke", _revoke, methods=["POST", "GET"])
router.add_api_route("/o/oauth2/revoke", _revoke, methods=["POST", "GET"])


@router.get("/oauth2/v1/certs")
async def certs_pem(request: Request) -> Response:
    return errors.json_response(state_of(request).keys.certs_pem())


@router.get("/oauth2/v3/certs")
async def certs_jwks(request: Request) -> Response:
    return errors.json_response(state_of(request).keys.jwks())


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return errors.json_response(
        {
            "issuer": ISSUER,
            "authorization_endpoint": base + "/o/oauth2/v2/auth",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/v1/userinfo",
            "revocation_endpoint": base + "/revoke",
            "jwks_uri": base + "/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }
    )


async def _userinfo(request: Request) -> Response:
    state = state_of(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return errors.missing_credentials()
    access = state.grants.access_token(header[7:].strip())
    if access is None or not access.is_live(time.time()):
        return errors.invalid_credentials(expired=access is not None)
    account = state.accounts.get(access.account)
    if account is None:
        return errors.invalid_credentials(expired=False)
    info: dict[str, Any] = {"sub": account.sub}
    if USERINFO_EMAIL in access.scopes:
        info.update(email=account.claimed_email, email_verified=account.email_verified)
    if USERINFO_PROFILE in access.scopes:
        info["name"] = account.name
    return errors.json_response(info)


router.add_api_route("/v1/userinfo", _userinfo, methods=["GET"])
router.add_api_route("/oauth2/v3/userinfo", _userinfo, methods=["GET"])
