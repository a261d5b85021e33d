"""The `/_sandbox/microsoft/` controls on the plain listener: accounts, consent without a
browser, invalidation, limits, throttles, settings, the sent list, counters and the CA.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from mailroute_sandbox.app import state_of
from mailroute_sandbox.consent import AuthRequestError, auth_params_from_url
from mailroute_sandbox.microsoft import consent
from mailroute_sandbox.microsoft.accounts import MsAccount
from mailroute_sandbox.microsoft.control_bodies import (
    MsApprove,
    MsExpire,
    MsInvalidate,
    MsLimits,
    MsSettingsBody,
    MsThrottle,
    NewMsAccount,
)
from mailroute_sandbox.microsoft.errors import INVALIDATION
from mailroute_sandbox.microsoft.limits import Throttle
from mailroute_sandbox.microsoft.state import MicrosoftState

router = APIRouter(prefix="/_sandbox/microsoft", tags=["sandbox controls: Microsoft"])


def _ms(request: Request) -> MicrosoftState:
    return state_of(request).microsoft


def _account_or_404(ms: MicrosoftState, email: str) -> MsAccount:
    found = ms.accounts.get(email)
    if found is None:
        raise HTTPException(404, f"no sandbox Microsoft account {email}")
    return found


@router.get("/accounts")
async def list_accounts(request: Request) -> dict[str, Any]:
    return {"accounts": [a.as_json() for a in _ms(request).accounts.all()]}


@router.post("/accounts")
async def add_account(body: NewMsAccount, request: Request) -> dict[str, Any]:
    account = MsAccount(
        email=body.email,
        name=body.name or body.email.split("@", 1)[0].replace(".", " ").title(),
        kind=body.kind,
        tenant_id=body.tenant_id,
        aliases=list(body.aliases),
        mail_enabled=body.mail_enabled,
    )
    return _ms(request).accounts.add(account).as_json()


@router.get("/accounts/{email}")
async def get_account(email: str, request: Request) -> dict[str, Any]:
    ms = _ms(request)
    account = _account_or_404(ms, email)
    return {
        **account.as_json(),
        "usage": ms.limiter.usage(account.key),
        "refresh_tokens": ms.tokens.refresh_tokens(account.key),
    }


@router.post("/accounts/{email}/approve")
async def approve(email: str, body: MsApprove, request: Request) -> dict[str, Any]:
    """What Accept (or Cancel) on the consent page answers, without a browser: `redirect` (the
    query-mode URL) and `params` (what msal's `acquire_token_by_auth_code_flow` takes)."""
    ms = _ms(request)
    params = auth_params_from_url(body.auth_url) if body.auth_url else {}
    given = body.model_dump(exclude_none=True, exclude={"auth_url", "action"})
    params.update({"response_type": "code", "client_id": ms.client_id, **params, **given})
    try:
        auth = consent.parse_auth_request(ms, params)
    except AuthRequestError as exc:
        raise HTTPException(400, exc.detail) from exc
    if body.action == "cancel":
        return {"code": None, "redirect": consent.deny(auth), "params": consent.denial_params(auth)}
    url, answer = consent.approve(ms, auth, email)
    return {"code": answer["code"], "redirect": url, "params": answer}


@router.post("/accounts/{email}/invalidate")
async def invalidate(email: str, body: MsInvalidate, request: Request) -> dict[str, Any]:
    ms = _ms(request)
    _account_or_404(ms, email)
    killed = ms.tokens.invalidate(email, body.reason)
    answer = INVALIDATION[body.reason]
    return {"grants_invalidated": killed, "error": answer.error, "error_code": answer.code}


@router.post("/accounts/{email}/limits")
async def set_limits(email: str, body: MsLimits, request: Request) -> dict[str, Any]:
    ms = _ms(request)
    _account_or_404(ms, email)
    updated = ms.accounts.update(email, **body.model_dump(exclude_none=True))
    assert updated is not None
    return updated.as_json()


@router.post("/throttle")
async def throttle(body: MsThrottle, request: Request) -> dict[str, int]:
    ms = _ms(request)
    ms.throttles.add(
        Throttle(body.account, body.count, body.status, body.retry_after, body.message)
    )
    return {"pending": ms.throttles.pending()}


@router.get("/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return _ms(request).settings.as_json()


@router.post("/settings")
async def set_settings(body: MsSettingsBody, request: Request) -> dict[str, Any]:
    settings = _ms(request).settings
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(settings, key, value)
    return settings.as_json()


@router.post("/tokens/expire")
async def expire_tokens(body: MsExpire, request: Request) -> dict[str, int]:
    return {"expired": _ms(request).tokens.expire_access_tokens(body.account)}


@router.get("/sent")
def sent(request: Request, account: str | None = None, content: bool = True) -> dict[str, Any]:
    messages = _ms(request).mailboxes.sent(account)
    return {"messages": [m.as_json(include_content=content) for m in messages]}


@router.get("/sign-outs")
async def sign_outs(request: Request) -> dict[str, Any]:
    return {"sign_outs": _ms(request).sign_outs()}


@router.get("/counters")
async def counters(request: Request) -> dict[str, Any]:
    ms = _ms(request)
    return {**ms.counters.as_json(), "max_concurrent_seen": ms.limiter.max_seen()}


@router.get("/ca.pem")
async def ca_pem(request: Request) -> Response:
    pem = _ms(request).ca_pem
    if pem is None:
        raise HTTPException(404, "the Microsoft TLS listener is not running")
    return Response(pem, media_type="application/x-pem-file")
