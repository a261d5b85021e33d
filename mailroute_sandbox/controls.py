"""The `/_sandbox/` control endpoints tests and demos use to steer and read the fake Google.

Every endpoint takes and returns JSON; docs/sandbox.md lists each with its request and response.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from mailroute_sandbox.accounts import Account
from mailroute_sandbox.app import state_of
from mailroute_sandbox.consent import (
    AuthRequestError,
    approve,
    auth_params_from_url,
    deny,
    parse_auth_request,
)
from mailroute_sandbox.control_bodies import (
    AccountLimitsBody,
    Approve,
    ExpireTokens,
    FaultBody,
    Invalidate,
    NewAccount,
    RedirectUris,
    SetScopes,
    SettingsBody,
    SmtpFailNext,
)
from mailroute_sandbox.grant_records import DEATH_REASONS
from mailroute_sandbox.limits import ApiFault
from mailroute_sandbox.risc import grant_ended
from mailroute_sandbox.smtp_sink import SmtpFault
from mailroute_sandbox.state import SandboxState

router = APIRouter(prefix="/_sandbox", tags=["sandbox controls"])


def _account_or_404(state: SandboxState, email: str) -> Account:
    account = state.accounts.get(email)
    if account is None:
        raise HTTPException(404, f"no sandbox account {email}")
    return account


@router.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@router.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    state_of(request).reset()
    return {"ok": True}


@router.get("/smtp/messages")
def smtp_messages(
    request: Request, rcpt: str | None = None, content: bool = True
) -> dict[str, Any]:
    return {"messages": state_of(request).smtp.messages(rcpt, include_content=content)}


@router.delete("/smtp/messages")
async def smtp_clear(request: Request) -> dict[str, bool]:
    state_of(request).smtp.clear()
    return {"ok": True}


@router.post("/smtp/fail-next")
async def smtp_fail_next(body: SmtpFailNext, request: Request) -> dict[str, int]:
    sink = state_of(request).smtp
    sink.fail_next(SmtpFault(body.count, body.code, body.message, body.mode, body.stage))
    return {"pending": sink.pending_faults()}


@router.get("/accounts")
async def list_accounts(request: Request) -> dict[str, Any]:
    return {"accounts": [a.as_json() for a in state_of(request).accounts.all()]}


@router.post("/accounts")
async def add_account(body: NewAccount, request: Request) -> dict[str, Any]:
    account = Account(
        email=body.email,
        name=body.name or body.email.split("@", 1)[0].title(),
        email_verified=body.email_verified,
        aliases=list(body.aliases),
        units_per_minute=body.quota_units_per_minute,
        send_cost=body.send_cost_units,
        daily_sends=body.daily_send_limit,
        max_concurrent=body.max_concurrent_sends,
        id_token_email=body.id_token_email,
    )
    return state_of(request).accounts.add(account).as_json()


@router.get("/accounts/{email}")
async def get_account(email: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    account = _account_or_404(state, email)
    return {
        **account.as_json(),
        "usage": state.limiter.usage(account.email.lower()),
        **state.grants.summary(account.email),
    }


@router.get("/accounts/{email}/issued")
async def issued(email: str, request: Request) -> dict[str, Any]:
    """Every code, PKCE verifier, refresh, access and ID token of the account (for log greps)."""
    state = state_of(request)
    _account_or_404(state, email)
    return state.issued.of(email)


@router.get("/revocations")
async def revocations(request: Request, account: str | None = None) -> dict[str, Any]:
    """Every call to /revoke (of one account, if given): token, kind, status, confirmed."""
    return {"revocations": state_of(request).revocations.calls(account)}


@router.post("/accounts/{email}/limits")
async def set_limits(email: str, body: AccountLimitsBody, request: Request) -> dict[str, Any]:
    state = state_of(request)
    _account_or_404(state, email)
    updated = state.accounts.update(
        email,
        units_per_minute=body.quota_units_per_minute,
        send_cost=body.send_cost_units,
        daily_sends=body.daily_send_limit,
        max_concurrent=body.max_concurrent_sends,
        email_verified=body.email_verified,
        aliases=body.aliases,
        id_token_email=body.id_token_email,
    )
    assert updated is not None
    return updated.as_json()


@router.post("/accounts/{email}/revoke")
async def user_revokes(email: str, request: Request) -> dict[str, int]:
    """The user removes the app in their Google account: every token of the account dies."""
    state = state_of(request)
    _account_or_404(state, email)
    killed = state.grants.kill_account_grants(email, "revoked", expire_access=True)
    grant_ended(request, email, "revoked", killed)
    return {"grants_revoked": killed}


@router.post("/accounts/{email}/invalidate")
async def invalidate(email: str, body: Invalidate, request: Request) -> dict[str, Any]:
    state = state_of(request)
    _account_or_404(state, email)
    if body.reason == "account_deleted":
        state.accounts.update(email, deleted=True)
    killed = state.grants.kill_account_grants(
        email,
        body.reason,
        expire_access=body.expire_access_tokens or body.reason == "account_deleted",
        refresh_token=body.refresh_token,
    )
    grant_ended(request, email, body.reason, killed, body.refresh_token)
    error, description = DEATH_REASONS[body.reason]
    return {"grants_invalidated": killed, "error": error, "error_description": description}


@router.post("/tokens/expire")
async def expire_tokens(body: ExpireTokens, request: Request) -> dict[str, int]:
    return {"expired": state_of(request).grants.expire_access_tokens(body.account)}


@router.post("/tokens/scopes")
async def set_scopes(body: SetScopes, request: Request) -> dict[str, int]:
    if body.account is None and body.token is None:
        raise HTTPException(422, "give account or token")
    changed = state_of(request).grants.set_scopes(body.account, body.token, body.scopes)
    return {"changed": changed}


@router.post("/faults")
async def add_fault(body: FaultBody, request: Request) -> dict[str, Any]:
    state = state_of(request)
    state.faults.add(
        ApiFault(
            kind=body.kind,
            remaining=body.count,
            target=body.target,
            account=body.account,
            retry_after_seconds=body.retry_after_seconds,
            hang_seconds=body.hang_seconds,
            deliver=body.deliver,
            persistent=body.persistent,
            message=body.message,
        )
    )
    return {"faults": state.faults.pending()}


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    return {"faults": state_of(request).faults.pending()}


@router.delete("/faults")
async def clear_faults(request: Request, account: str | None = None) -> dict[str, Any]:
    """Drop every pending fault, or only those scoped to `account` (persistent ones too)."""
    return {"ok": True, "cleared": state_of(request).faults.clear(account)}


@router.get("/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return state_of(request).settings.as_json()


@router.post("/settings")
async def set_settings(body: SettingsBody, request: Request) -> dict[str, Any]:
    settings = state_of(request).settings
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(settings, key, value)
    return settings.as_json()


@router.get("/redirect-uris")
async def get_redirect_uris(request: Request) -> dict[str, list[str]]:
    return {"redirect_uris": state_of(request).redirect_uris()}


@router.post("/redirect-uris")
async def add_redirect_uris(body: RedirectUris, request: Request) -> dict[str, list[str]]:
    return {"redirect_uris": state_of(request).add_redirect_uris(body.uris)}


@router.post("/oauth/approve")
async def approve_without_browser(body: Approve, request: Request) -> dict[str, Any]:
    """What clicking Allow (or Cancel) on the consent page returns, without a browser."""
    state = state_of(request)
    params = auth_params_from_url(body.auth_url) if body.auth_url else {}
    params.update(body.params)
    try:
        auth = parse_auth_request(state, params)
    except AuthRequestError as exc:
        raise HTTPException(exc.status, f"{exc.error}: {exc.detail}") from exc
    if body.action == "cancel":
        return {"redirect_url": deny(auth), "code": None, "scope": None, "state": auth.state}
    url, code, granted = approve(
        state, auth, body.account, grant_send=body.grant_send, extra_scopes=body.extra_scopes
    )
    return {"redirect_url": url, "code": code, "scope": " ".join(granted), "state": auth.state}


@router.get("/gmail/sent")
def all_sent(request: Request, content: bool = True) -> dict[str, Any]:
    sent = state_of(request).mailbox.sent(None)
    return {"messages": [m.as_json(include_content=content) for m in sent]}


@router.get("/gmail/{email}/sent")
def account_sent(email: str, request: Request, content: bool = True) -> dict[str, Any]:
    sent = state_of(request).mailbox.sent(email)
    return {"messages": [m.as_json(include_content=content) for m in sent]}


@router.get("/counters")
async def counters(request: Request) -> dict[str, Any]:
    state = state_of(request)
    return {**state.counters.as_json(), "smtp_messages": state.smtp.count()}
