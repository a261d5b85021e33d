"""The Gmail connection's use cases: start and complete "Sign in with Google", verify the
connection (a token refresh), revoke it. Each transition publishes `GmailConnectionChanged`;
the one caller that breaks a connection also publishes `AuthBroken`.

Refusals (`grant_checks`) raise `AuthorizationRefusedError`; nothing is stored. A grant with
more scopes than asked for is refused and revoked; an account switch revokes the old grant;
what Google did not confirm, the clock asks again until it does (`revocations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
from mailroute.core.oauth import GrantedTokens, excess_scopes, has_send_scope
from mailroute.core.ports import Outbox
from mailroute.core.reauthorization import ReauthorizationLinks
from mailroute.core.records import ConnectionRecord, RenewedUntil, TokenSet
from mailroute.services.breaks import break_connection
from mailroute.services.grant_checks import (
    SEND_BOX,
    AuthorizationRefusedError,
    checked_address,
    excess_scopes_refusal,
)
from mailroute.services.intake import new_correlation_id
from mailroute.services.oauth_callback import (
    BrowserSession,
    ProviderWords,
    checked_callback,
    start_sign_in,
)
from mailroute.services.reauthorization import link_of_sign_in, spend_link
from mailroute.services.revocations import KEEPS_ASKING, GoogleRevocations
from mailroute.services.signed_oauth_state import StateSigner

log = structlog.get_logger(__name__)
__all__ = ["SEND_BOX", "AuthorizationRefusedError", "BrowserSession", "GmailConnections"]
_GOOGLE = ProviderWords(name="google", who="Google", mailbox="Gmail")


@dataclass(frozen=True)
class Revoked:
    """What Revoke Access did: the connection after, and whether Google confirmed."""

    record: ConnectionRecord | None
    address: str | None  # the account whose access was revoked; None: nothing was connected
    google_confirmed: bool
    problem: str | None = None  # why Google has not confirmed (the clock keeps asking)


@dataclass(frozen=True)
class Verification:
    record: ConnectionRecord | None
    checked: bool  # Google answered (either way)
    problem: str | None = None  # why it could not be checked


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
        revocations: GoogleRevocations,
        links: ReauthorizationLinks | None = None,
    ) -> None:
        self._revocations = revocations
        self._links = links  # a sign-in a notice's link started is held to its account
        self._connections = connections
        self._states = states
        self._oauth = oauth
        self._signer = signer
        self._outbox = outbox
        self._secret_key = secret_key

    @property
    def checks_link_sign_ins(self) -> bool:
        """Whether its callback holds a sign-in a re-authorization link started to the link's
        account (only then may links start sign-ins for this provider)."""
        return self._links is not None

    # -- Sign in with Google / Re-authorize Sync ------------------------------------------------
    def start_authorization(
        self, *, company_id: str, user_id: str | None, session_id: str, switch_account: bool
    ) -> str:
        """Google's consent URL for this company's admin, bound to their browser session."""
        url = start_sign_in(
            self._signer,
            self._states,
            self._secret_key,
            self._oauth.authorization_url,
            current=self._connections.for_company(company_id),
            company_id=company_id,
            user_id=user_id,
            session_id=session_id,
            switch_account=switch_account,
        )
        log.info("connection.authorization_started", company_id=company_id)
        return url

    def complete_authorization(
        self, params: Mapping[str, str], session: BrowserSession
    ) -> ConnectionRecord:
        """Check everything, redeem the code, connect. Raises `AuthorizationRefusedError`."""
        checked = checked_callback(
            params,
            session,
            signer=self._signer,
            states=self._states,
            secret_key=self._secret_key,
            words=_GOOGLE,
        )
        payload, pending = checked.payload, checked.pending
        try:
            granted = self._oauth.exchange_code(
                checked.code, state=checked.state, code_verifier=pending.code_verifier
            )
        except TransientError as exc:
            raise AuthorizationRefusedError(
                "google_unavailable", f"{exc.message} Please try again.", status=503
            ) from exc
        except PermanentError as exc:
            raise AuthorizationRefusedError(exc.code, exc.message) from exc
        current = self._connections.for_company(payload.company_id)
        extra = excess_scopes(granted.granted_scopes)
        if extra:
            raise self._refuse_excess(payload.company_id, granted, current, extra)
        identity = granted.identity
        link = link_of_sign_in(
            self._links, payload.nonce, subject=identity.subject, email=identity.email
        )
        address = checked_address(granted, current, switch_account=pending.switch_account)
        refresh_token = granted.refresh_token or self._kept_refresh_token(current, granted)
        connected_by = pending.user_id
        if link is not None:
            spend_link(self._links, link, payload.nonce)
            connected_by = current.connected_by if current else None  # who connected it
        record, outbox_ids = self._connections.connect(
            payload.company_id,
            address=address,
            google_subject=granted.identity.subject,
            refresh_token=refresh_token,
            access_token=granted.access_token,
            access_token_expires_at=granted.expires_at,
            scopes=granted.granted_scopes,
            connected_by=connected_by,
            refresh_expires_at=granted.refresh_expires_at,
        )
        self._outbox.publish_stored(outbox_ids)  # with the Active-again notice, after a break
        log.info("connection.connected", company_id=record.company_id, generation=record.generation)
        self._revocations.revoke_new(payload.company_id)  # another account's grant, replaced
        return record

    def _refuse_excess(
        self,
        company_id: str,
        granted: GrantedTokens,
        current: ConnectionRecord | None,
        extra: tuple[str, ...],
    ) -> AuthorizationRefusedError:
        """Refuse a grant holding more than mailroute asked for, and have Google revoke it.
        Google revokes per account and app: when this company's connection is of the same
        account, it is disconnected too (its grant ends with this one)."""
        refusal = excess_scopes_refusal(extra)
        self._revocations.queue_refused(granted, company_id)
        if (
            current is not None
            and current.google_subject == granted.identity.subject
            and current.state != "disconnected"
        ):
            _after, outbox_ids = self._connections.revoke(company_id, reason="refused_grant")
            self._outbox.publish_stored(outbox_ids)
            refusal.message += (
                f" Google ends the whole authorization of {current.address}, so this company's"
                " Gmail connection was disconnected too."
            )
        revoked = self._revocations.revoke_new(company_id)
        if not revoked.confirmed:
            refusal.message += f" Google has not confirmed the revocation yet; {KEEPS_ASKING}"
        log.warning("connection.grant_refused", company_id=company_id, code=refusal.code)
        return refusal

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

        def refresh(tokens: TokenSet) -> RenewedUntil:
            fresh = self._oauth.refresh(tokens.refresh_token)
            if not has_send_scope(fresh.granted_scopes):
                raise GmailAuthBrokenError(
                    "the send permission is gone", reason=BrokenReason.SCOPE_REMOVED
                )
            return RenewedUntil(
                fresh.access_token, fresh.expires_at, None, fresh.refresh_expires_at
            )

        try:
            self._connections.refresh_once(
                record.id, record.generation, lambda _tokens: False, refresh
            )
        except GmailAuthBrokenError as exc:
            self.mark_broken(record, exc.reason)
        except MailrouteError as exc:
            log.warning("connection.verify_failed", company_id=company_id, code=exc.code)
            return Verification(record, checked=False, problem=exc.message)
        except TokenDecryptionError:
            # No configured key reads the stored token: the connection cannot send any more,
            # so it breaks through the one break path (one notice), as a revoked grant does.
            log.error("connection.token_undecryptable", company_id=company_id)
            self.mark_broken(record, BrokenReason.TOKEN_UNREADABLE)
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
    def revoke(self, company_id: str) -> Revoked:
        """Delete both tokens and disconnect (the refresh token, still encrypted, kept as a
        pending revocation in the same transaction), then ask Google to forget the grant. What
        Google does not confirm (down, 5xx, or a token no key reads) is said, and the clock
        keeps asking (`retry_revocations`)."""
        current = self._connections.for_company(company_id)
        if current is None or current.state == "disconnected":
            return Revoked(current, None, google_confirmed=False)
        after, outbox_ids = self._connections.revoke(company_id)
        self._outbox.publish_stored(outbox_ids)
        asked = self._revocations.revoke_new(company_id)
        confirmed = asked.confirmed or not asked.asked
        log.info("connection.revoked", company_id=company_id, google_confirmed=confirmed)
        return Revoked(after, current.address, google_confirmed=confirmed, problem=asked.problem)

    def retry_revocations(self, limit: int = 20) -> int:
        """The clock's job: ask Google again about every revocation it has not confirmed."""
        return self._revocations.retry_due(limit)

    def _tokens(self, record: ConnectionRecord) -> TokenSet | None:
        try:
            return self._connections.tokens(record.id)
        except TokenDecryptionError:
            log.error("connection.token_undecryptable", company_id=record.company_id)
            return None
