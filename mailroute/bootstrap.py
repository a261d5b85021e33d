"""The composition root: the one place where settings meet adapters and become `Deps`."""

from __future__ import annotations

import dramatiq

from mailroute.adapters.db.companies import PostgresCompanies, sender_context
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.rabbitmq import DramatiqQueues, OutboxRelay, PikaEventPublisher
from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.config.settings import Settings
from mailroute.core.retry import RetryPolicy
from mailroute.services.deps import Deps


def build_deps(settings: Settings, broker: dramatiq.Broker, pool: Pool | None = None) -> Deps:
    """Build every adapter a worker or the web app needs. Opens the pool (no other I/O)."""
    if pool is None:
        pool = make_pool(settings)
        pool.open(wait=False)
    db: Pool = pool
    publisher = PikaEventPublisher(settings.rabbitmq_url, settings.events_exchange)
    return Deps(
        settings=settings,
        emails=PostgresEmails(db),
        companies=PostgresCompanies(db),
        sender_context=lambda company_id: sender_context(db, company_id),
        transports={
            "default": SmtpSender(
                SmtpServer.from_url(settings.smtp_url), timeout=settings.smtp_timeout_seconds
            ),
        },
        scheduler=DramatiqQueues(broker),
        outcomes=OutboxRelay(db, publisher),
        retry_policy=RetryPolicy(max_attempts=settings.smtp_max_attempts),
    )
