"""The OAuth state every provider's sign-in is bound by (`issue_state`), and what its callback
checks before it redeems a code (`checked_callback`), in this order: the state is genuine and
unexpired (signed for this provider's callback), it was issued to this browser's session (and,
when the browser is signed in, to its company), its pending authorization is consumed once, and
the provider answered with a code rather than an error.

Each refusal is an `AuthorizationRefusedError` with a stable `code`; nothing is stored. Only the
words differ between providers (`ProviderWords`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from mailroute.core.connection_ports import AuthorizationStates
from mailroute.core.oauth import AuthorizationStart, PendingAuthorization
from mailroute.core.records import ConnectionRecord
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.signed_oauth_state import (
    StatePayload,
    StateRefusedError,
    StateSigner,
    session_binding,
)


@dataclass(frozen=True)
class BrowserSession:
    """Who is at the browser: its session id, and the company it is signed in to (if any)."""

    session_id: str | None
    company_id: str | None = None


@dataclass(frozen=True)
class ProviderWords:
    """How a callback's refusals name the provider: `google` / Google / Gmail."""

    name: str  # the prefix of the provider's own error code: `google_error`
    who: str  # who signs the admin in: "Google", "Microsoft"
    mailbox: str  # what was to be connected: "Gmail", "Microsoft 365"


@dataclass(frozen=True)
class IssuedState:
    """A new sign-in's state: its single-use nonce, the browser session's binding, the signed
    state to send to the provider."""

    nonce: str
    session_binding: str
    state: str


def issue_state(
    signer: StateSigner, secret_key: str, *, company_id: str, session_id: str
) -> IssuedState:
    """A state naming a fresh nonce, bound to this browser session and company."""
    nonce = secrets.token_urlsafe(24)
    binding = session_binding(secret_key, session_id)
    return IssuedState(nonce, binding, signer.sign(StatePayload(nonce, company_id, binding)))


class AuthorizationUrl(Protocol):
    def __call__(self, state: str, *, login_hint: str | None = None) -> AuthorizationStart: ...


def start_sign_in(
    signer: StateSigner,
    states: AuthorizationStates,
    secret_key: str,
    authorization_url: AuthorizationUrl,
    *,
    current: ConnectionRecord | None,
    company_id: str,
    user_id: str | None,
    session_id: str,
    switch_account: bool,
) -> str:
    """The provider's sign-in URL for this company's admin, bound to their browser session,
    offering the connected account unless they asked to switch; the pending authorization
    (its PKCE verifier, or msal's whole flow) is saved for the callback, once."""
    issued = issue_state(signer, secret_key, company_id=company_id, session_id=session_id)
    hint = None
    if current and current.state != "disconnected" and not switch_account:
        hint = current.address
    start = authorization_url(issued.state, login_hint=hint)
    states.save(
        issued.nonce,
        company_id=company_id,
        user_id=user_id,
        session_hash=issued.session_binding,
        code_verifier=start.code_verifier,
        switch_account=switch_account,
        ttl=signer.max_age,
    )
    return start.url


@dataclass(frozen=True)
class CheckedCallback:
    """A callback that passed every check: its state's payload, the consumed pending
    authorization, and the code (with the state it came with) to redeem."""

    payload: StatePayload
    pending: PendingAuthorization
    code: str
    state: str


def checked_callback(
    params: Mapping[str, str],
    session: BrowserSession,
    *,
    signer: StateSigner,
    states: AuthorizationStates,
    secret_key: str,
    words: ProviderWords,
) -> CheckedCallback:
    """The callback's state, pending authorization and code; `AuthorizationRefusedError` for
    the first check that fails. The pending authorization is consumed even when the provider
    answered an error: a state is good for one answer, whatever it says."""
    state = params.get("state", "")
    try:
        payload = signer.read(state)
    except StateRefusedError as exc:
        raise AuthorizationRefusedError(exc.code, exc.message) from None
    bound = session.session_id is not None and secrets.compare_digest(
        session_binding(secret_key, session.session_id), payload.session_binding
    )
    if not bound or (session.company_id not in (None, payload.company_id)):
        raise AuthorizationRefusedError(
            "session_mismatch",
            "This sign-in was started in another browser session or for another company."
            " Start again from the Email settings page in this browser.",
            status=403,
        )
    pending = states.consume(payload.nonce, payload.company_id)
    if pending is None:
        raise AuthorizationRefusedError(
            "state_replayed",
            "This sign-in response was already used or has expired. Please start again.",
        )
    error = params.get("error")
    if error:
        cancelled = error == "access_denied"
        raise AuthorizationRefusedError(
            "access_denied" if cancelled else f"{words.name}_error",
            f"{words.who} sign-in was cancelled, so {words.mailbox} was not connected."
            if cancelled
            else f"{words.who} did not authorize mailroute ({error}).",
        )
    code = params.get("code", "")
    if not code:
        raise AuthorizationRefusedError("code_missing", f"{words.who} sent no authorization code.")
    return CheckedCallback(payload, pending, code, state)
