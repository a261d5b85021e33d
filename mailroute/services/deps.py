"""The dependencies a use case may need, built once per process by `mailroute.bootstrap`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mailroute.config.settings import Settings
from mailroute.core.model import Route
from mailroute.core.pacing import PacingPolicy
from mailroute.core.ports import MessageTransport, OutcomePublisher, SendScheduler
from mailroute.core.retry import RetryPolicy

if TYPE_CHECKING:
    from mailroute.adapters.db.companies import PostgresCompanies
    from mailroute.adapters.db.connections import PostgresConnections
    from mailroute.adapters.db.emails import PostgresEmails
    from mailroute.adapters.db.notices import PostgresNotices
    from mailroute.adapters.db.pacing import PostgresPacing
    from mailroute.core.records import SenderContext
    from mailroute.events import AuthBroken


class GmailTransports(Protocol):
    """A transport that sends as one Gmail connection (its generation pinned)."""

    def for_connection(self, connection_id: str, generation: int) -> MessageTransport: ...


class QueuePublisher(Protocol):
    def enqueue(
        self, queue: str, actor: str, args: tuple[Any, ...], *, delay_seconds: float = 0.0
    ) -> str: ...


class ConnectionEvents(Protocol):
    def auth_broken(self, event: AuthBroken) -> None: ...


class PacingMetrics(Protocol):
    """Counts emails put back to wait for their Gmail account, and how long they wait."""

    def paced(self, reason: str, delay_seconds: float) -> None: ...


@dataclass
class Deps:
    settings: Settings
    emails: PostgresEmails
    companies: PostgresCompanies
    sender_context: Callable[[str], SenderContext | None]
    transports: dict[Route, MessageTransport]
    scheduler: SendScheduler
    outcomes: OutcomePublisher
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Gmail sending; None in a process that never sends through Gmail.
    gmail: GmailTransports | None = None
    connections: PostgresConnections | None = None
    connection_events: ConnectionEvents | None = None
    notices: PostgresNotices | None = None
    queue: QueuePublisher | None = None
    gmail_retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    # A retry due later than this is parked in PostgreSQL for the clock, never held by a worker
    # as a delayed message (RabbitMQ's consumer_timeout, research dramatiq §1.5).
    max_scheduled_delay_seconds: float = 300.0
    # Per Gmail account pacing; None sends without pacing (unit tests with fakes).
    pacing: PostgresPacing | None = None
    pacing_policy: PacingPolicy = field(default_factory=PacingPolicy)
    pacing_metrics: PacingMetrics | None = None
    # A context up to a second old, for routing new emails (`companies.RecentSenderContexts`);
    # None routes every email on a fresh read.
    recent_sender_context: Callable[[str], SenderContext | None] | None = None
