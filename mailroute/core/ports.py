"""The ports the use cases talk through. Real adapters live in `adapters/` and are built by
`bootstrap`; in-memory fakes beside them in `tests/fakes.py`. Each port is small and says what
it promises; the value types are in `core.records`, the errors in `core.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailroute.core.abandoned import Stalled
from mailroute.core.model import Route
from mailroute.core.pacing import PacingPolicy, SendStart
from mailroute.core.records import (
    Broken,
    Claim,
    Company,
    DeliveryOutcome,
    EmailView,
    PendingNotice,
    Requeue,
    Reservation,
    RouteTarget,
    SenderContext,
    StoreRequest,
    StoreResult,
)
from mailroute.events import EmailRequested


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class ProviderReceipt:
    """What the provider said when it accepted the message."""

    message_id: str | None = None
    thread_id: str | None = None
    # The provider accepted the message for delivery without naming it (Microsoft Graph's 202):
    # submitted, not delivered, and there is no provider id to look it up by.
    submitted_only: bool = False


class MessageTransport(Protocol):
    """Hands one finished message to a provider. Raises the errors of `core.errors`."""

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt: ...


class MailboxTransports(Protocol):
    """A transport that sends as one mailbox connection (its generation pinned)."""

    def for_connection(self, connection_id: str, generation: int) -> MessageTransport: ...


class QueuePublisher(Protocol):
    """Puts a message for one of our actors on its queue, with publisher confirms. Raises
    `BrokerUnavailableError` when the broker cannot confirm."""

    def enqueue(
        self,
        queue: str,
        actor: str,
        args: tuple[Any, ...],
        *,
        delay_seconds: float = 0.0,
        correlation_id: str | None = None,
    ) -> str: ...

    def schedule_send(
        self,
        route: Route,
        email_id: str,
        delay_seconds: float = 0.0,
        *,
        correlation_id: str | None = None,
    ) -> None: ...


class Outbox(Protocol):
    """Publishes rows the caller's transaction wrote to the outbox; what it cannot publish now
    a relay publishes later, so this never fails the caller."""

    def publish_stored(self, outbox_ids: list[int]) -> None: ...


class CompanyLookup(Protocol):
    def get(self, company_id: str) -> Company | None: ...


SenderContexts = Callable[[str], SenderContext | None]


class EmailStore(Protocol):
    """The one idempotent store per (company, event), and routing a stored email once."""

    def store(
        self,
        event: EmailRequested,
        *,
        correlation_id: str | None,
        route: Route | None = None,
        from_address: str | None = None,
        reply_to: str | None = None,
        message_id: str = "",
        failure: tuple[str, str] | None = None,
        routed: bool = False,
    ) -> tuple[StoreResult, int | None]: ...

    def store_many(self, requests: list[StoreRequest]) -> list[tuple[StoreResult, int | None]]: ...

    def route_target(self, email_id: str) -> RouteTarget | None: ...

    def set_route(
        self,
        target: RouteTarget,
        *,
        route: Route | None,
        from_address: str,
        reply_to: str,
        message_id: str,
        failure: tuple[str, str] | None,
    ) -> tuple[bool, int | None]: ...

    def record_rejected(
        self, *, queue: str, actor: str, message_id: str, reason: str, payload: Any
    ) -> None: ...


class EmailClaims(Protocol):
    """Claim before sending, record after: each mark is conditional on the claim."""

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None: ...

    def claim_many(self, email_ids: list[str], claim_key: str, route: Route) -> list[Claim]: ...

    def release_claims(self, email_ids: list[str], claim_key: str) -> int: ...

    def mark_sent_many(
        self, sent: list[tuple[Claim, ProviderReceipt]], claim_key: str
    ) -> list[int]: ...

    def mark_sent(
        self,
        claim: Claim,
        claim_key: str,
        *,
        provider_message_id: str | None = None,
        provider_thread_id: str | None = None,
        release_lease: str | None = None,
        submitted_only: bool = False,
    ) -> int | None: ...

    def mark_retrying(
        self,
        email_id: str,
        claim_key: str,
        *,
        code: str,
        message: str,
        due: datetime,
        parked: bool = False,
    ) -> bool: ...

    def mark_failed(
        self, email_id: str, claim_key: str | None, *, code: str, message: str
    ) -> int | None: ...

    def reroute(
        self, email_id: str, claim_key: str, *, route: Route, from_address: str
    ) -> bool: ...

    def note_broken_generation(self, email_id: str, generation: int | None) -> None: ...

    def mark_paced(
        self,
        email_id: str,
        claim_key: str,
        *,
        slot: datetime | None,
        due: datetime,
        parked: bool,
        code: str | None = None,
        message: str | None = None,
    ) -> bool: ...


class EmailRetries(Protocol):
    """Sending a failed email again."""

    def retry_target(
        self, email_id: str, company_id: str
    ) -> tuple[str, str, str | None] | None: ...

    def redispatch(
        self, email_id: str, company_id: str, *, route: Route, from_address: str
    ) -> bool: ...

    def failed_while_not_connected(
        self, company_id: str, generation: int, *, code: str = "gmail_not_connected"
    ) -> list[str]: ...


class RecentEmails(Protocol):
    """The company's latest emails, newest first (the settings page's "Recent emails")."""

    def recent(self, company_id: str, limit: int = 20) -> list[EmailView]: ...


class Emails(EmailStore, EmailClaims, EmailRetries, Protocol):
    """The emails record, as one adapter implements it."""


class ConnectionBreaks(Protocol):
    """The one break path: active -> not_connected for exactly one caller, in one transaction
    with the notice, `AuthBroken`, `GmailConnectionChanged` and the notify task."""

    def break_connection(
        self, connection_id: str, generation: int, reason: str, correlation_id: str
    ) -> Broken | None: ...


class Notices(Protocol):
    """The notice of one break, delivered at most once (`send` raises to leave it pending)."""

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[PendingNotice], None]
    ) -> DeliveryOutcome: ...


class Pacing(Protocol):
    """Per Gmail account slots, leases and daily counts, shared by every process."""

    def reserve(self, connection_id: str, email_id: str, policy: PacingPolicy) -> Reservation: ...

    def start_send(
        self, connection_id: str, email_id: str, policy: PacingPolicy, weight: int = 1
    ) -> SendStart: ...

    def end_send(self, connection_id: str, email_id: str) -> None: ...


class PacingMetrics(Protocol):
    """Counts emails put back to wait for their Gmail account, and how long they wait."""

    def paced(self, reason: str, delay_seconds: float) -> None: ...


class EmailSweeps(Protocol):
    """What the clock puts back on the queues (`core.abandoned` for the stalled ones)."""

    def stalled(self, *, older_than: timedelta, limit: int = 500) -> list[Stalled]: ...

    def requeued(self, email_ids: list[str]) -> None: ...

    def due_retries(self, limit: int = 500) -> list[Requeue]: ...
