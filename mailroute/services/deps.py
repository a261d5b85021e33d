"""The dependencies a use case may need, built once per process by `mailroute.bootstrap`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailroute.config.settings import Settings
from mailroute.core.model import Route
from mailroute.core.ports import MessageTransport, OutcomePublisher, SendScheduler
from mailroute.core.retry import RetryPolicy

if TYPE_CHECKING:
    from mailroute.adapters.db.companies import PostgresCompanies, SenderContext
    from mailroute.adapters.db.emails import PostgresEmails


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
