"""Re-authorizing a broken mailbox from its notice, without an admin session, and the notice
that it is Active again.

A break's notice carries a one-time link for whoever owns the mailbox. The link is bound to the
connection and the generation that broke (a re-authorization raises the generation, so every
link of that break dies with it), to the company, and to the account: the stored subject
(Google's `sub`, Microsoft's `oid.tid`). Only that account's sign-in can use it.

Its rules, and why:
- Opening it spends nothing: a link scanner or a mail previewer fetches links. A confirm page's
  POST starts the provider's sign-in, bound to that browser (the signed OAuth state and its
  session binding) and hinting the account.
- It is spent when that sign-in completes as the same account, not when it is confirmed: an
  owner who picks the wrong account at the provider, or cancels there, can open it again, and
  a sign-in as anyone else connects nothing. Each confirm records the sign-in it started, so
  only the latest one, in the browser that confirmed, can complete it.
- It expires after `LINK_TTL`, 7 days: a notice is read by a person, maybe after a weekend or
  a short leave, and a stolen notice stays useless to anyone but the account's owner; after
  that an admin re-authorizes from the Email settings page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from mailroute.core.records import DeliveryOutcome, PendingNotice

LINK_TTL = timedelta(days=7)
REAUTHORIZE_PATH = "/reauthorize"


def reauthorization_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}{REAUTHORIZE_PATH}/{token}"


@dataclass(frozen=True)
class ReauthorizationLink:
    """What a usable link re-authorizes, and as which account."""

    company_id: str
    connection_id: str
    generation: int
    provider: str
    account_subject: str
    address: str
    expires_at: datetime


def same_account(link: ReauthorizationLink, subject: str | None) -> bool:
    """The signed-in account is the link's own (by subject: an address can be renamed)."""
    return bool(subject) and subject == link.account_subject


class ReauthorizationLinks(Protocol):
    """The links of broken connections. `peek`, `bind_sign_in` and `spend` answer None for a
    link that is unknown, expired, spent, or whose connection is no longer the broken
    generation it names."""

    def peek(self, token: str) -> ReauthorizationLink | None:
        """What the link re-authorizes, using nothing."""
        ...

    def bind_sign_in(self, token: str, nonce: str) -> ReauthorizationLink | None:
        """Record the sign-in a confirm started (its state's nonce), replacing an earlier one."""
        ...

    def for_sign_in(self, nonce: str) -> ReauthorizationLink | None:
        """The link that started this sign-in, usable or not (its callback is held to the
        link's account either way); None for a sign-in no link started."""
        ...

    def spend(self, nonce: str) -> ReauthorizationLink | None:
        """Use the link once, by the latest sign-in it started; None when it is not usable
        any more, or a later confirm started another sign-in."""
        ...


@dataclass(frozen=True)
class LinkedNotice(PendingNotice):
    """A break's notice with the raw token of its re-authorization link (None: no link, as
    when the account's subject is not known)."""

    reauthorization_token: str | None = None


@dataclass(frozen=True)
class PendingActiveAgain:
    """The notice that a connection is Active again, to its company's admins and connector."""

    connection_id: str
    generation: int
    company_id: str
    company_name: str
    address: str
    provider: str
    reconnected_at: datetime
    recipients: tuple[str, ...]
    attempts: int
    correlation_id: str | None = None


@runtime_checkable
class ActiveAgainNotices(Protocol):
    """The one Active-again notice of (connection, generation), delivered at most once."""

    def deliver_active_again_once(
        self, connection_id: str, generation: int, send: Callable[[PendingActiveAgain], None]
    ) -> DeliveryOutcome: ...
