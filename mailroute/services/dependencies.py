"""What the use cases are given: ports (core's Protocols) and policies, built once per process
by `mailroute.bootstrap`, or from fakes in unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailroute.config.settings import Settings
from mailroute.core.model import Route
from mailroute.core.pacing import PacingPolicy, microsoft_policy
from mailroute.core.ports import (
    ConnectionBreaks,
    Emails,
    MailboxTransports,
    MessageTransport,
    Notices,
    Outbox,
    Pacing,
    PacingMetrics,
    QueuePublisher,
    SenderContexts,
)
from mailroute.core.retry import RetryPolicy


def default_pacing_policies() -> dict[str, PacingPolicy]:
    return {"gmail": PacingPolicy(), "microsoft": microsoft_policy()}


@dataclass
class Dependencies:
    settings: Settings
    emails: Emails
    sender_context: SenderContexts
    transports: dict[Route, MessageTransport]
    queue: QueuePublisher
    outbox: Outbox
    breaks: ConnectionBreaks
    notices: Notices
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Retries through a company's mailbox (any provider).
    mailbox_retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Each provider's mailbox sending, by route name (`core.providers`); a provider missing
    # here (a process that never sends through it) fails its emails as not usable.
    mailboxes: dict[str, MailboxTransports] = field(default_factory=dict)
    # A retry due later than this is parked in PostgreSQL for the clock, never held by a worker
    # as a delayed message (RabbitMQ's consumer_timeout, research dramatiq §1.5).
    max_scheduled_delay_seconds: float = 300.0
    # Per mailbox pacing; None sends without pacing (unit tests with fakes).
    pacing: Pacing | None = None
    pacing_policies: dict[str, PacingPolicy] = field(default_factory=default_pacing_policies)
    pacing_metrics: PacingMetrics | None = None
    # A context up to a second old, for routing new emails; None routes on a fresh read.
    recent_sender_context: SenderContexts | None = None
