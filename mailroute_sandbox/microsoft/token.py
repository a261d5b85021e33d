"""`POST /{tenant}/oauth2/v2.0/token`: the authorization-code and refresh-token grants, with
PKCE S256, rotating refresh tokens, RS256 ID tokens and Microsoft's AADSTS error bodies.

Client authentication: a Basic header (what msal sends) or `client_id` + `client_secret` form
fields.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from mailroute_sandbox.app import state_of
from mailroute_sandbox.microsoft import errors, scopes
from mailroute_sandbox.microsoft.consent import client_info
from mailroute_sandbox.microsoft.errors import IdentityError
from mailroute_sandbox.microsoft.state import MicrosoftState
from mailroute_sandbox.microsoft.tokens import MsGrant

log = structlog.get_logger(__name__)
router = APIRouter()
ID_TOKEN_LIFETIME = 3600


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            return "", None
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return form.get("client_id", ""), form.get("client_secret")


def _id_token(
    ms: MicrosoftState, base: str, grant: MsGrant, granted: tuple[str, ...], nonce: str | None
) -> str:
    account = ms.accounts.get(grant.account)
    assert account is not None
    now = int(time.time())
    claims: dict[str, Any] = {
        "ver": "2.0",
        "iss": f"{base}/{account.tid}/v2.0",
        "sub": account.sub,
        "aud": grant.client_id,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "nbf": now,
        "oid": account.oid,
        "tid": account.tid,
        "preferred_username": account.email,
        "name": account.name,
    }
    if scopes.holds(granted, "email"):
        claims["email"] = account.email
    if nonce:
        claims["nonce"] = nonce
    return ms.keys.sign(claims)


def _payload(
    ms: MicrosoftState,
    request: Request,
    grant: MsGrant,
    answered: tuple[str, ...],
    refresh_token: str,
    nonce: str | None,
    wants_client_info: bool,
) -> dict[str, Any]:
    lifetime = ms.settings.access_token_lifetime_seconds
    resource = scopes.resource_scopes(answered)
    payload: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scopes.answered(answered, short=ms.settings.short_graph_scopes),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": ms.tokens.issue_access_token(grant, resource, lifetime),
    }
    if scopes.holds(grant.scopes, "offline_access"):
        payload["refresh_token"] = refresh_token
    if scopes.holds(grant.scopes, "openid"):
        base = str(request.base_url).rstrip("/")
        payload["id_token"] = _id_token(ms, base, grant, answered, nonce)
    account = ms.accounts.get(grant.account)
    if wants_client_info and account is not None:
        payload["client_info"] = client_info(account)
    return payload


def _refresh_scopes(grant: MsGrant, asked: str) -> tuple[str, ...]:
    """What a refresh answers: the scopes asked, which must all have been consented."""
    wanted = scopes.normalise(asked.split()) or grant.scopes
    if any(s.lower() == scopes.DEFAULT.lower() for s in wanted):
        wanted = tuple(s for s in wanted if s.lower() != scopes.DEFAULT.lower()) + tuple(
            scopes.resource_scopes(grant.scopes)
        )
    missing = [s for s in wanted if not scopes.holds(grant.scopes, s)]
    if missing:
        raise IdentityError(errors.NOT_CONSENTED_SCOPE)
    return scopes.normalise(wanted)


@router.post("/{tenant}/oauth2/v2.0/token")
async def token(tenant: str, request: Request) -> Response:
    ms = state_of(request).microsoft
    body = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    client_id, secret = _credentials(request, form)
    grant_type = form.get("grant_type", "")
    account = ms.tokens.account_of(
        code=form.get("code", ""), refresh_token=form.get("refresh_token", "")
    )
    fill = {"client_id": client_id, "grant_type": grant_type}
    fill["redirect_uri"] = form.get("redirect_uri", "")
    try:
        if client_id != ms.client_id:
            raise IdentityError(errors.UNKNOWN_CLIENT)
        if not secret:
            raise IdentityError(errors.MISSING_SECRET)
        if secret != ms.client_secret:
            raise IdentityError(errors.BAD_SECRET)
        return _grant(ms, request, form, client_id, grant_type, fill)
    except IdentityError as exc:
        if grant_type == "refresh_token":
            ms.counters.bump("refresh_failures", account)
        log.info("sandbox.microsoft.token_refused", code=exc.answer.code, grant_type=grant_type)
        return errors.identity_error(exc.answer, **fill)


def _grant(
    ms: MicrosoftState,
    request: Request,
    form: dict[str, str],
    client_id: str,
    grant_type: str,
    fill: dict[str, str],
) -> Response:
    wants_info = form.get("client_info", "") == "1"
    if grant_type == "authorization_code":
        grant, refresh = ms.tokens.redeem_code(
            form.get("code", ""),
            client_id,
            form.get("redirect_uri", ""),
            form.get("code_verifier", ""),
        )
        payload = _payload(ms, request, grant, grant.scopes, refresh, grant.nonce, wants_info)
        ms.counters.bump("token_exchanges", grant.account)
        log.info("sandbox.microsoft.token_exchanged", account=grant.account)
        return errors.json_response(payload)
    if grant_type == "refresh_token":
        presented = form.get("refresh_token", "")
        issued = ms.tokens.refresh_issued_at(presented) or time.time()
        fill["issued"] = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(issued))
        grant, refresh = ms.tokens.rotate(
            presented,
            client_id,
            lifetime=ms.settings.refresh_token_lifetime_seconds,
            invalidate_rotated=ms.settings.invalidate_rotated_refresh_tokens,
        )
        answered = _refresh_scopes(grant, form.get("scope", ""))
        payload = _payload(ms, request, grant, answered, refresh, None, wants_info)
        ms.counters.bump("token_refreshes", grant.account)
        log.info("sandbox.microsoft.token_refreshed", account=grant.account)
        return errors.json_response(payload)
    raise IdentityError(errors.UNSUPPORTED_GRANT)
