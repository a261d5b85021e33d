"""The Microsoft 365 connection's use cases: start and complete "Sign in with Microsoft", verify
the connection (a forced token renewal), revoke it. Each transition publishes the connection's
change; the one caller that breaks a connection also publishes `AuthBroken` (`breaks`).

The callback makes Google's checks (`oauth_callback`) with a state signed for Microsoft's
callback only. The stored refresh credential is msal's serialized token cache: every renewal
may rotate the refresh token inside it, so a renewal stores what it answers with the access
token, in one statement (`ConnectionStore.refresh_once`).

Microsoft has no token revocation for these apps. Revoke Access deletes every token mailroute
holds and disconnects; the consent stays in the Microsoft account until someone removes the app
there, and `MicrosoftRevoked` says so, with where to do it and the sign-out URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from mailroute.core.connection import BrokenReason
from mailroute.core.connection_ports import (
    AuthorizationStates,
    ConnectionStore,
    MicrosoftOAuthProvider,
    MicrosoftSignIn,
)
from mailroute.core.errors import (
    MailrouteError,
    MicrosoftAuthBrokenError,
    TokenDecryptionError,
    TransientError,
)
from mailroute.core.oauth import sender_address
from mailroute.core.ports import Outbox
from mailroute.core.reauthorization import ReauthorizationLinks
from mailroute.core.records import ConnectionRecord, Renewed, TokenSet
from mailroute.services.breaks import break_connection
from mailroute.services.connections import Verification
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.intake import new_correlation_id
from mailroute.services.oauth_callback import (
    BrowserSession,
    ProviderWords,
    checked_callback,
    start_sign_in,
)
from mailroute.services.reauthorization import link_of_sign_in, spend_link
from mailroute.services.signed_oauth_state import StateSigner

log = structlog.get_logger(__name__)

# Where an account's owner removes mailroute's consent (Microsoft's own pages).
REMOVE_APP_WORK_OR_SCHOOL = "https://myapps.microsoft.com"
REMOVE_APP_PERSONAL = "https://account.live.com/consent/Manage"
# What Revoke Access does at Microsoft, and what it does not: said on the page and by the API.
REVOCATION_AT_MICROSOFT = (
    "Revoke Access deletes every token mailroute holds for this mailbox, so mailroute can no"
    " longer send from it. Microsoft gives apps like mailroute no way to withdraw their own"
    " permission: it stays listed in the Microsoft account until someone removes mailroute there"
    f" ({REMOVE_APP_WORK_OR_SCHOOL} for a work or school account,"
    f" {REMOVE_APP_PERSONAL} for a personal one). Signing out of Microsoft only ends this"
    " browser's Microsoft session."
)
_MICROSOFT = ProviderWords(name="microsoft", who="Microsoft", mailbox="Microsoft 365")


@dataclass(frozen=True)
class MicrosoftRevoked:
    """What Revoke Access did: the connection after, whose tokens were deleted, and what is
    left to do at Microsoft (nothing there was revoked: Microsoft offers no way to)."""

    record: ConnectionRecord | None
    address: str | None  # the mailbox whose tokens were deleted; None: nothing was connected
    sign_out_url: str | None = None  # ends the browser's Microsoft session; None: unknown now
    explanation: str = REVOCATION_AT_MICROSOFT
    remove_app_work_or_school: str = REMOVE_APP_WORK_OR_SCHOOL
    remove_app_personal: str = REMOVE_APP_PERSONAL


class MicrosoftConnections:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        states: AuthorizationStates,
        oauth: MicrosoftOAuthProvider,
        signer: StateSigner,
        outbox: Outbox,
        secret_key: str,
        signed_out_uri: str,
        links: ReauthorizationLinks | None = None,
    ) -> None:
        self._links = links  # a sign-in a notice's link started is held to its account
        self._connections = connections
        self._states = states
        self._oauth = oauth
        self._signer = signer
        self._outbox = outbox
        self._secret_key = secret_key
        self._signed_out_uri = signed_out_uri  # where Microsoft's sign-out sends the browser

    @property
    def checks_link_sign_ins(self) -> bool:
        """Whether its callback holds a sign-in a re-authorization link started to the link's
        account (only then may links start sign-ins for this provider)."""
        return self._links is not None

    # -- Sign in with Microsoft / Re-authorize ---------------------------------------------------
    def start_authorization(
        self, *, company_id: str, user_id: str | None, session_id: str, switch_account: bool
    ) -> str:
        """Microsoft's sign-in URL for this company's admin, bound to their browser session;
        msal's flow (PKCE verifier, nonce) is kept, encrypted, as the pending code verifier."""
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
        log.info("connection.authorization_started", company_id=company_id, provider="microsoft")
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
            words=_MICROSOFT,
        )
        payload, pending = checked.payload, checked.pending
        try:
            grant = self._oauth.exchange_code(
                checked.code, state=checked.state, code_verifier=pending.code_verifier
            )
        except TransientError as exc:
            raise AuthorizationRefusedError(
                "microsoft_unavailable", f"{exc.message} Please try again.", status=503
            ) from exc
        except MailrouteError as exc:  # the code or the grant refused (their code says which)
            raise AuthorizationRefusedError(exc.code, exc.message) from exc
        current = self._connections.for_company(payload.company_id)
        identity = grant.identity
        link = link_of_sign_in(
            self._links, payload.nonce, subject=identity.subject, email=identity.email
        )
        address = _checked_account(grant, current, switch_account=pending.switch_account)
        connected_by = pending.user_id
        if link is not None:
            spend_link(self._links, link, payload.nonce)
            connected_by = current.connected_by if current else None  # who connected it
        record, outbox_ids = self._connections.connect(
            payload.company_id,
            address=address,
            google_subject=grant.identity.subject,
            refresh_token=grant.refresh_credential,
            access_token=grant.access_token,
            access_token_expires_at=grant.expires_at,
            scopes=grant.granted_scopes,
            connected_by=connected_by,
        )
        self._outbox.publish_stored(outbox_ids)  # with the Active-again notice, after a break
        log.info(
            "connection.connected",
            company_id=record.company_id,
            generation=record.generation,
            provider="microsoft",
        )
        return record

    # -- Check now -------------------------------------------------------------------------------
    def verify(self, company_id: str) -> Verification:
        """Renew the access token now (a forced refresh, which rotates the refresh token: the
        new credential is stored with the token). A refused grant breaks the connection."""
        record = self._connections.for_company(company_id)
        if record is None or record.state != "active":
            return Verification(record, checked=False)

        def renew(tokens: TokenSet) -> Renewed:
            return self._oauth.renew(tokens.refresh_token, force_refresh=True)

        try:
            self._connections.refresh_once(
                record.id, record.generation, lambda _tokens: False, renew
            )
        except MicrosoftAuthBrokenError as exc:
            self.mark_broken(record, exc.reason)
        except MailrouteError as exc:
            log.warning("connection.verify_failed", company_id=company_id, code=exc.code)
            return Verification(record, checked=False, problem=exc.message)
        except TokenDecryptionError:
            # No configured key reads the stored credential: the connection cannot send any
            # more, so it breaks through the one break path (one notice).
            log.error("connection.token_undecryptable", company_id=company_id)
            self.mark_broken(record, BrokenReason.TOKEN_UNREADABLE)
        log.info("connection.verified", company_id=company_id, provider="microsoft")
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
    def revoke(self, company_id: str) -> MicrosoftRevoked:
        """Delete every token and disconnect (the default sender takes over). Nothing is asked
        of Microsoft, which has nothing to ask: the result says what is left to do there."""
        current = self._connections.for_company(company_id)
        if current is None or current.state == "disconnected":
            return MicrosoftRevoked(current, None)
        after, outbox_ids = self._connections.revoke(company_id)
        self._outbox.publish_stored(outbox_ids)
        try:
            sign_out = self._oauth.sign_out_url(self._signed_out_uri)
        except MailrouteError as exc:  # the authority's discovery document is unavailable
            log.warning("connection.sign_out_url_unknown", company_id=company_id, code=exc.code)
            sign_out = None
        log.info("connection.revoked", company_id=company_id, provider="microsoft")
        return MicrosoftRevoked(after, current.address, sign_out)


def _checked_account(
    grant: MicrosoftSignIn, current: ConnectionRecord | None, *, switch_account: bool
) -> str:
    """The address the grant sends From; another account than the connected one only when
    switching was chosen. Raises `AuthorizationRefusedError`."""
    address = sender_address(grant.identity.email)
    if address is None:
        raise AuthorizationRefusedError(
            "email_invalid",
            f"Microsoft gave {grant.identity.email!r} as this account's address, which is not a"
            " plain email address, so mailroute cannot send email from it. Sign in with another"
            " account.",
        )
    if (
        current is not None
        and current.state != "disconnected"
        and current.google_subject
        and current.google_subject != grant.identity.subject
        and not switch_account
    ):
        raise AuthorizationRefusedError(
            "account_mismatch",
            f"This company's Microsoft 365 connection is {current.address}, but you signed in"
            f" as {address}. Sign in as {current.address}, or tick \u201cUse a different"
            " Microsoft account\u201d to switch accounts.",
            status=409,
        )
    return address
