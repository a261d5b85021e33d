"""Who is calling Graph, and whether the call may run: the bearer token, the mailbox, injected
throttles and the 4-requests-at-once limit. Every Graph route runs its work through `guarded`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from fastapi import Request
from starlette.responses import Response

from mailroute_sandbox import clock
from mailroute_sandbox.app import state_of
from mailroute_sandbox.microsoft import errors, scopes
from mailroute_sandbox.microsoft.accounts import MsAccount
from mailroute_sandbox.microsoft.state import MicrosoftState

log = structlog.get_logger(__name__)
_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)
DEFAULT_THROTTLE_MESSAGES = {
    429: "Application is over its MailboxConcurrency limit.",
    503: "The server cannot service this request right now. Try again later.",
}


@dataclass(frozen=True)
class Caller:
    account: MsAccount
    scopes: tuple[str, ...]


Work = Callable[[MicrosoftState, Caller], Awaitable[Response]]


def _unauthenticated(message: str) -> Response:
    return errors.graph_error(
        401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": _CHALLENGE}
    )


def authenticate(ms: MicrosoftState, request: Request) -> Caller | Response:
    header = request.headers.get("authorization", "")
    value = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not value:
        ms.counters.bump("auth_failures", None)
        return _unauthenticated("Access token is empty.")
    access = ms.tokens.access_token(value)
    account = ms.accounts.get(access.account) if access else None
    if access is None or account is None:
        ms.counters.bump("auth_failures", None)
        return _unauthenticated("IDX14100: JWT is not well formed, there are no dots (.).")
    if not access.is_live(clock.now()):
        ms.counters.bump("auth_failures", account.key)
        if access.revoked:
            return _unauthenticated("Access token validation failure. Invalid audience.")
        return _unauthenticated("Lifetime validation failed, the token is expired.")
    return Caller(account, access.scopes)


def access_denied() -> Response:
    return errors.graph_error(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


async def guarded(request: Request, needs: str, work: Work) -> Response:
    """Authenticate, check `needs` (a Graph scope) and the mailbox, apply injected throttles
    and the concurrency limit, then run `work`."""
    ms = state_of(request).microsoft
    caller = authenticate(ms, request)
    if isinstance(caller, Response):
        return caller
    key = caller.account.key
    if not scopes.holds(caller.scopes, needs) and not (
        needs == scopes.MAIL_READWRITE
        and not ms.settings.drafts_need_mail_readwrite
        and scopes.holds(caller.scopes, scopes.MAIL_SEND)
    ):
        ms.counters.bump("auth_failures", key)
        return access_denied()
    if not caller.account.mail_enabled:
        return errors.graph_error(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    rule = ms.throttles.take(key)
    if rule is not None:
        ms.counters.bump("throttled", key)
        text = rule.message or DEFAULT_THROTTLE_MESSAGES.get(rule.status, "Throttled.")
        return errors.throttled(text, rule.retry_after, rule.status)
    refusal = ms.limiter.enter(key, caller.account.limits)
    if refusal is not None:
        ms.counters.bump("throttled", key)
        log.info("sandbox.microsoft.concurrency_refused", account=key)
        return errors.throttled(refusal.message, refusal.retry_after)
    try:
        if ms.settings.graph_latency_ms > 0:
            await asyncio.sleep(ms.settings.graph_latency_ms / 1000)
        return await work(ms, caller)
    finally:
        ms.limiter.leave(key)
