"""The Gmail connection's use cases: start and complete "Sign in with Google", verify the
connection (a token refresh), revoke it. Each transition publishes `GmailConnectionChanged`;
the one caller that breaks a connection also publishes `AuthBroken`.

Refusals raise `AuthorizationRefusedError` with a `code` and a message written for the admin;
nothing is stored when the callback is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from mailroute.core.connection import BrokenReason
from mailroute.core.connection_ports import AuthorizationStates, ConnectionStore, OAuthProvider
from mailroute.core.errors import (
    GmailAuthBrokenError,
    MailrouteError,
    PermanentError,
    TokenDecryptionError,
    TransientError,
)
from mailroute.core.oauth import GrantedTokens, has_send_scope
from mailroute.core.ports import Outbox
from mailroute.core.records import ConnectionRecord, TokenSet
from mailroute.services.breaks import break_connection
from mailroute.services.intake import new_correlation_id
from mailroute.services.signed_oauth_state import (
    StatePayload,
    StateRefusedError,
    StateSigner,
    session_binding,
)

log = structlog.get_logger(__name__)
SEND_BOX = "Send email on your behalf"


class AuthorizationRefusedError(Exception):
    """The callback was refused; nothing was stored. `message` is for the admin."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class BrowserSession:
    """Who is at the browser: its session id, and the company it is signed in to (if any)."""

    session_id: str | None
    company_id: str | None = None


@dataclass(frozen=True)
class Verification:
    record: ConnectionRecord | None
    checked: bool  # Google answered (either way)
    problem: str | None = None  # why it could not be checked


def _now() -> datetime:
    return datetime.now(UTC)


class GmailConnections:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        states: AuthorizationStates,
        oauth: OAuthProvider,
        signer: StateSigner,
        outbox: Outbox,
        secret_key: str,
    ) -> None:
        self._connections = connections
        self._states = states
        self._oauth = oauth
        self._signer = signer
        self._outbox = outbox
        self._secret_key = secret_key

    # -- Sign in with Google / Re-authorize Sync ------------------------------------------------
    def start_authorization(
        self, *, company_id: str, user_id: str | None, session_id: str, switch_account: bool
    ) -> str:
        """Google's consent URL for this company's admin, bound to their browser session."""
        nonce = secrets.token_urlsafe(24)
        binding = session_binding(self._secret_key, session_id)
        state = self._signer.sign(StatePayload(nonce, company_id, binding))
        current = self._connections.for_company(company_id)
        hint = None
        if current and current.state != "disconnected" and not switch_account:
            hint = current.address
        start = self._oauth.authorization_url(state, login_hint=hint)
        self._states.save(
            nonce,
            company_id=company_id,
            user_id=user_id,
            session_hash=binding,
            code_verifier=start.code_verifier,
            switch_account=switch_account,
            ttl=self._signer.max_age,
        )
        log.info("connection.authorization_started", company_id=company_id)
        return start.url

    def complete_authorization(
        self, params: Mapping[str, str], session: BrowserSession
    ) -> ConnectionRecord:
        """Check everything, redeem the code, connect. Raises `AuthorizationRefusedError`."""
        try:
            payload = self._signer.read(params.get("state", ""))
        except StateRefusedError as exc:
            raise AuthorizationRefusedError(exc.code, exc.message) from None
        bound = session.session_id is not None and secrets.compare_digest(
            session_binding(self._secret_key, session.session_id), payload.session_binding
        )
        if not bound or (session.company_id not in (None, payload.company_id)):
            raise AuthorizationRefusedError(
                "session_mismatch",
                "This sign-in was started in another browser session or for another company."
                " Start again from the Email settings page in this browser.",
                status=403,
            )
        pending = self._states.consume(payload.nonce, payload.company_id)
        if pending is None:
            raise AuthorizationRefusedError(
                "state_replayed",
                "This sign-in response was already used or has expired. Please start again.",
            )
        if params.get("error"):
            cancelled = params["error"] == "access_denied"
            raise AuthorizationRefusedError(
                "access_denied" if cancelled else "google_error",
                "Google sign-in was cancelled, so Gmail was not connected."
                if cancelled
                else f"Google did not authorize mailroute ({params['error']}).",
            )
        code = params.get("code", "")
        if not code:
            raise AuthorizationRefusedError("code_missing", "Google sent no authorization code.")
        try:
            granted = self._oauth.exchange_code(
                code, state=params["state"], code_verifier=pending.code_verifier
            )
        except TransientError as exc:
            raise AuthorizationRefusedError(
                "google_unavailable", f"{exc.message} Please try again.", status=503
            ) from exc
        except PermanentError as exc:
            raise AuthorizationRefusedError(exc.code, exc.message) from exc
        current = self._connections.for_company(payload.company_id)
        self._check_grant(granted, current, switch_account=pending.switch_account)
        refresh_token = granted.refresh_token or self._kept_refresh_token(current, granted)
        record, outbox_ids = self._connections.connect(
            payload.company_id,
            address=granted.identity.email,
            google_subject=granted.identity.subject,
            refresh_token=refresh_token,
            access_token=granted.access_token,
            access_token_expires_at=granted.expires_at,
            scopes=granted.granted_scopes,
            connected_by=pending.user_id,
        )
        self._outbox.publish_stored(outbox_ids)
        log.info("connection.connected", company_id=record.company_id, generation=record.generation)
        return record

    def _check_grant(
        self, granted: GrantedTokens, current: ConnectionRecord | None, *, switch_account: bool
    ) -> None:
        identity = granted.identity
        if not has_send_scope(granted.granted_scopes):
            raise AuthorizationRefusedError(
                "scope_missing",
                f"Gmail was not connected: the box \u201c{SEND_BOX}\u201d was not ticked on"
                " Google's consent screen. Sign in again and tick it: mailroute only sends"
                " email and never reads your inbox.",
            )
        if not identity.email_verified:
            raise AuthorizationRefusedError(
                "email_unverified",
                f"Google has not verified the address {identity.email}, so it cannot be used to"
                " send email. Verify it with Google, or sign in with another account.",
            )
        connected = current is not None and current.state != "disconnected"
        if (
            connected
            and current is not None
            and current.google_subject
            and current.google_subject != identity.subject
            and not switch_account
        ):
            raise AuthorizationRefusedError(
                "account_mismatch",
                f"This company's Gmail connection is {current.address}, but you signed in as"
                f" {identity.email}. Sign in as {current.address}, or tick \u201cUse a"
                " different Google account\u201d to switch accounts.",
                status=409,
            )

    def _kept_refresh_token(self, current: ConnectionRecord | None, granted: GrantedTokens) -> str:
        """Google sent no refresh token: keep the stored one of the same account, if any."""
        if current is not None and current.google_subject == granted.identity.subject:
            tokens = self._tokens(current)
            if tokens is not None:
                return tokens.refresh_token
        raise AuthorizationRefusedError(
            "offline_access_missing",
            "Google did not grant offline access. Please sign in again.",
        )

    # -- Check now -------------------------------------------------------------------------------
    def verify(self, company_id: str) -> Verification:
        """Refresh the token now: invalid_grant or a missing send scope breaks the connection."""
        record = self._connections.for_company(company_id)
        if record is None or record.state != "active":
            return Verification(record, checked=False)

        def refresh(tokens: TokenSet) -> tuple[str, datetime | None]:
            fresh = self._oauth.refresh(tokens.refresh_token)
            if not has_send_scope(fresh.granted_scopes):
                raise GmailAuthBrokenError(
                    "the send permission is gone", reason=BrokenReason.SCOPE_REMOVED
                )
            return fresh.access_token, fresh.expires_at

        try:
            self._connections.refresh_under_lock(
                record.id, record.generation, lambda _tokens: False, refresh
            )
        except GmailAuthBrokenError as exc:
            self.mark_broken(record, exc.reason)
        except MailrouteError as exc:
            log.warning("connection.verify_failed", company_id=company_id, code=exc.code)
            return Verification(record, checked=False, problem=exc.message)
        except TokenDecryptionError:
            log.error("connection.token_undecryptable", company_id=company_id)
            return Verification(record, checked=False, problem="the stored token cannot be read")
        log.info("connection.verified", company_id=company_id)
        return Verification(self._connections.for_company(company_id), checked=True)

    def mark_broken(self, record: ConnectionRecord, reason: str) -> bool:
        """active -> not_connected through the one break path; True for the one winner."""
        broken = break_connection(
            self._connections,
            self._outbox,
            connection_id=record.id,
            generation=record.generation,
            reason=reason,
            correlation_id=new_correlation_id(),
        )
        return broken is not None

    # -- Revoke Access ---------------------------------------------------------------------------
    def revoke(self, company_id: str) -> ConnectionRecord | None:
        """Ask Google to forget the grant, delete both tokens whatever it answers, disconnect."""
        current = self._connections.for_company(company_id)
        if current is None or current.state == "disconnected":
            return current
        tokens = self._tokens(current)
        google_forgot = False
        if tokens is not None:
            try:
                google_forgot = self._oauth.revoke(tokens.refresh_token)
            except TransientError:
                log.warning("connection.revoke_unconfirmed", company_id=company_id)
        after, outbox_ids = self._connections.revoke(company_id)
        self._outbox.publish_stored(outbox_ids)
        log.info("connection.revoked", company_id=company_id, google_confirmed=google_forgot)
        return after

    def _tokens(self, record: ConnectionRecord) -> TokenSet | None:
        try:
            return self._connections.tokens(record.id)
        except TokenDecryptionError:
            log.error("connection.token_undecryptable", company_id=record.company_id)
            return None
