"""Re-authorizing from a notice's link (`core.reauthorization`): its confirm starts the
provider's sign-in in this browser, and the provider's callback (`GmailConnections`,
`MicrosoftConnections`) holds a sign-in a link started to the link's account before it connects
anything.

    peek(token)               what the link re-authorizes; spends nothing (a GET)
    start(token, session_id)  the confirm: the sign-in URL, bound to this browser, hinting the
                              account; the link remembers this sign-in as its latest
    link_of_sign_in(..)       at the callback: None for a sign-in no link started; the link
                              when the signed-in account is its own; else a refusal
    spend_link(..)            right before the callback connects: the link used, once
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from mailroute.core.connection_ports import AuthorizationStates
from mailroute.core.providers import provider
from mailroute.core.reauthorization import (
    ReauthorizationLink,
    ReauthorizationLinks,
    same_account,
)
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.oauth_callback import AuthorizationUrl, issue_state
from mailroute.services.signed_oauth_state import StateSigner

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProviderSignIn:
    """What starts one provider's sign-in: the signer its callback reads states with, the
    pending authorizations it consumes, and its authorization URL."""

    signer: StateSigner
    states: AuthorizationStates
    authorization_url: AuthorizationUrl


class Reauthorization:
    def __init__(
        self,
        *,
        links: ReauthorizationLinks,
        sign_ins: Mapping[str, ProviderSignIn],
        secret_key: str,
    ) -> None:
        self._links = links
        self._sign_ins = sign_ins  # by provider name; a provider not set up here is missing
        self._secret_key = secret_key

    def peek(self, token: str) -> ReauthorizationLink | None:
        """What a usable link re-authorizes; None for one that cannot be used (or whose
        provider this server cannot sign in with)."""
        link = self._links.peek(token)
        return link if link is not None and link.provider in self._sign_ins else None

    def start(self, token: str, *, session_id: str) -> str | None:
        """The provider's sign-in URL for the link's account, bound to this browser session;
        None when the link cannot be used. Nothing is spent yet."""
        link = self.peek(token)
        if link is None:
            return None
        sign_in = self._sign_ins[link.provider]
        issued = issue_state(
            sign_in.signer, self._secret_key, company_id=link.company_id, session_id=session_id
        )
        if self._links.bind_sign_in(token, issued.nonce) is None:
            return None
        start = sign_in.authorization_url(issued.state, login_hint=link.address)
        sign_in.states.save(
            issued.nonce,
            company_id=link.company_id,
            user_id=None,
            session_hash=issued.session_binding,
            code_verifier=start.code_verifier,
            switch_account=False,
            ttl=sign_in.signer.max_age,
        )
        log.info("reauthorization.started", company_id=link.company_id, provider=link.provider)
        return start.url


def link_of_sign_in(
    links: ReauthorizationLinks | None, nonce: str, *, subject: str | None, email: str
) -> ReauthorizationLink | None:
    """At a callback, once the code was redeemed: None when no link started this sign-in (an
    admin's own); the link when the account signed in is the link's; otherwise
    `AuthorizationRefusedError`, and nothing may be connected."""
    link = links.for_sign_in(nonce) if links is not None else None
    if link is None:
        return None
    if not same_account(link, subject):
        log.warning("reauthorization.wrong_account", company_id=link.company_id)
        raise AuthorizationRefusedError(
            "reauthorization_wrong_account",
            f"This link re-authorizes the {provider(link.provider).label} account"
            f" {link.address} only, but you signed in as {email}. Nothing was connected. Open"
            f" the link again and sign in as {link.address}.",
            status=403,
        )
    return link


def spend_link(links: ReauthorizationLinks | None, link: ReauthorizationLink, nonce: str) -> None:
    """Use the link of this sign-in, right before it connects; `AuthorizationRefusedError`
    when it cannot be used any more (so the sign-in connects nothing)."""
    if links is None or links.spend(nonce) is None:
        raise AuthorizationRefusedError(
            "reauthorization_link_unusable",
            f"This re-authorization link of {link.address} was already used, has expired, was"
            " opened again in another browser, or the mailbox was re-authorized meanwhile."
            " Nothing was connected. An admin can re-authorize it from the Email settings page.",
            status=410,
        )
    log.info("reauthorization.spent", company_id=link.company_id, provider=link.provider)
