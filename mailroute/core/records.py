"""The value types the use cases and the adapters exchange: companies and callers, stored emails
and their claims, Gmail connections and their tokens, notices. Plain frozen dataclasses, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from mailroute.core.connection import ConnectionState
from mailroute.core.model import OutgoingEmail, Route
from mailroute.core.pacing import PacingPolicy
from mailroute.core.routing import MailboxView
from mailroute.events import AuthBroken, EmailRequested

Role = Literal["admin", "sender"]
DeliveryOutcome = Literal["sent", "already_sent", "in_flight", "no_notice"]


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    reply_to: str
    # "Send from the default address while a mailbox is not usable" (the name is kept from
    # when Gmail was the only mailbox: it holds for every provider).
    default_while_gmail_broken: bool = False
    # The mailbox `auto` sends from when it is connected (a name in `core.providers`); None:
    # the first connected in the registry's order.
    primary_provider: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: one API key, one company, one role."""

    company_id: str
    role: Role
    key_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class Mailbox:
    """One of a company's mailbox connections, as routing and sending need it."""

    id: str
    generation: int
    view: MailboxView

    @property
    def provider(self) -> str:
        return self.view.provider


@dataclass(frozen=True)
class SenderContext:
    """What routing needs to know about a company, read in one query: the company and each of
    its mailbox connections (at most one per provider)."""

    company: Company
    mailboxes: tuple[Mailbox, ...] = ()

    def mailbox(self, provider: str) -> Mailbox | None:
        """The company's connection to `provider`, in whatever state, or None."""
        return next((m for m in self.mailboxes if m.provider == provider), None)

    @property
    def views(self) -> list[MailboxView]:
        return [m.view for m in self.mailboxes]


@dataclass(frozen=True)
class StoreRequest:
    """One email to store (`EmailStore.store`'s arguments): accepted, or already routed —
    queued on `route`, or failed with `failure`."""

    event: EmailRequested
    correlation_id: str | None
    route: Route | None = None
    from_address: str | None = None
    reply_to: str | None = None
    message_id: str = ""
    failure: tuple[str, str] | None = None
    routed: bool = False


@dataclass(frozen=True)
class StoreResult:
    email_id: str
    created: bool
    status: str
    route: Route | None
    correlation_id: str | None = None
    # False when the email was stored before from another request with the same event id.
    same_request: bool = True


@dataclass(frozen=True)
class RouteTarget:
    """A stored email as routing sees it, with its company and Gmail connection."""

    email_id: str
    event_id: str
    status: str
    route: Route | None
    sender_choice: str
    reply_to: str | None
    correlation_id: str | None
    context: SenderContext


@dataclass(frozen=True)
class Claim:
    email: OutgoingEmail
    attempts: int
    route: Route
    from_address: str
    possible_duplicate: bool
    # The company and its mailboxes as they were at the claim (mailbox claims only).
    sender: SenderContext | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class EmailView:
    id: str
    company_id: str
    event_id: str
    kind: str
    status: str
    route: str | None
    from_address: str | None  # as people read it: 'Café Ltd <a@b.example>', never RFC 2047
    to: list[str]
    subject: str
    attempts: int
    error_code: str | None
    error_message: str | None
    provider_message_id: str | None
    message_id: str
    possible_duplicate: bool
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    # When its bodies and attachments were deleted, after its retention (`core.retention`).
    content_purged_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "kind": self.kind,
            "status": self.status,
            "route": self.route,
            "from": self.from_address,
            "to": self.to,
            "subject": self.subject,
            "attempts": self.attempts,
            "error": (
                {"code": self.error_code, "message": self.error_message}
                if self.error_code
                else None
            ),
            "provider_message_id": self.provider_message_id,
            # Graph's 202: submitted for delivery, no provider id, no delivery report.
            "submitted_only": self.status == "sent" and self.route == "microsoft",
            "message_id": self.message_id or None,  # set when the email is routed
            "possible_duplicate": self.possible_duplicate,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "content_purged_at": (
                self.content_purged_at.isoformat() if self.content_purged_at else None
            ),
        }


@dataclass(frozen=True)
class ConnectionRecord:
    id: str
    company_id: str
    state: ConnectionState
    address: str | None
    google_subject: str | None
    generation: int
    scopes: tuple[str, ...]
    connected_by: str | None
    connected_at: datetime | None
    last_verified_at: datetime | None
    broken_reason: str | None
    broken_at: datetime | None
    access_token_expires_at: datetime | None
    daily_cap: int | None  # None: the provider's default
    has_refresh_token: bool
    provider: str = "gmail"  # registered in `core.providers`
    # When its refresh token is known to end (the provider announced it); None: not known.
    refresh_expires_at: datetime | None = None


class Renewed(NamedTuple):
    """What a refresh returns: the new access token and, when the provider rotated it (a
    Microsoft refresh token replaces itself on every use, inside msal's serialized cache), the
    new refresh credential, stored with the access token in one statement."""

    access_token: str
    expires_at: datetime | None
    refresh_token: str | None = None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        rotated = self.refresh_token is not None
        return f"Renewed(expires_at={self.expires_at!r}, rotated={rotated})"


class RenewedUntil(NamedTuple):
    """A `Renewed` whose answer also announced when the refresh credential ends (Google's
    `refresh_token_expires_in`); the lease stores that end with the access token."""

    access_token: str
    expires_at: datetime | None
    refresh_token: str | None
    refresh_expires_at: datetime | None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        rotated = self.refresh_token is not None
        return (
            f"RenewedUntil(expires_at={self.expires_at!r}, rotated={rotated},"
            f" refresh_expires_at={self.refresh_expires_at!r})"
        )


@dataclass(frozen=True)
class TokenSet:
    """Decrypted tokens: keep in memory only as long as a call needs them."""

    refresh_token: str
    access_token: str | None
    access_token_expires_at: datetime | None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return f"TokenSet(expires_at={self.access_token_expires_at!r})"


@dataclass(frozen=True)
class PendingNotice:
    connection_id: str
    generation: int
    company_id: str
    company_name: str
    address: str
    reason: str
    broken_at: datetime
    default_while_broken: bool
    recipients: tuple[str, ...]
    attempts: int
    correlation_id: str | None = None
    provider: str = "gmail"


@dataclass(frozen=True)
class AdminUser:
    company_id: str
    user_id: str
    email: str


@dataclass(frozen=True)
class Reservation:
    """The slot an email is to send on, and the account's limits as the database has them."""

    slot: datetime
    held: bool  # the email already held this slot (it was put back to wait for it)
    now: datetime
    policy: PacingPolicy


@dataclass(frozen=True)
class Requeue:
    """An email the clock puts back on a queue: its route's (`route`), or dispatch (None)."""

    email_id: str
    route: Route | None
    correlation_id: str | None


@dataclass(frozen=True)
class Broken:
    """A connection this caller broke: the event, the record after, and the outbox rows the
    same transaction wrote (`AuthBroken`, `GmailConnectionChanged`, the notify task)."""

    event: AuthBroken
    record: ConnectionRecord
    outbox_ids: list[int]
