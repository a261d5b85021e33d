"""The clock process: its relay, the sweeps it re-queues from (and the emails it gives up on),
the notices' backstop, the connection checks, the earlier release's waiting requests, and the
pruning of what is kept past its retention."""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.brokers.rabbitmq import RabbitmqBroker

from mailroute.adapters.db.abandoned_emails import PostgresAbandonedEmails
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.email_sweeps import PostgresEmailSweeps
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.legacy_intake import PostgresLegacyIntake
from mailroute.adapters.db.one_notice_per_break import PostgresNotices
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.webhook_deliveries import PostgresWebhookDeliveries
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.adapters.rabbitmq.relay import OutboxRelay
from mailroute.bootstrap.adapters import (
    connection_store,
    gmail_connections,
    open_pool,
    outbox_relay,
)
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.bootstrap.retention import retention_pruner
from mailroute.bootstrap.webhooks import webhook_deliveries
from mailroute.config.settings import Settings
from mailroute.services.connections import GmailConnections
from mailroute.services.intake import Intake
from mailroute.services.retention import RetentionPruner


@dataclass
class ClockServices:
    settings: Settings
    pool: Pool
    broker: RabbitmqBroker
    relay: OutboxRelay
    queue: DramatiqQueues
    sweeps: PostgresEmailSweeps
    abandoned: PostgresAbandonedEmails
    notices: PostgresNotices
    connections: PostgresConnections
    gmail: GmailConnections
    intake: Intake
    legacy_intake: PostgresLegacyIntake
    webhooks: PostgresWebhookDeliveries
    retention: RetentionPruner

    def close(self) -> None:
        self.broker.close()
        self.pool.close()


def build_clock(settings: Settings) -> ClockServices:
    pool = open_pool(settings, max_size=2)
    broker = rabbitmq_broker(settings)
    relay = outbox_relay(settings, pool)
    queue = DramatiqQueues(broker)
    connections = connection_store(settings, pool)
    return ClockServices(
        settings=settings,
        pool=pool,
        broker=broker,
        relay=relay,
        queue=queue,
        sweeps=PostgresEmailSweeps(pool),
        abandoned=PostgresAbandonedEmails(pool),
        notices=PostgresNotices(pool),
        connections=connections,
        gmail=gmail_connections(settings, pool, relay, connections),
        intake=Intake(
            PostgresCompanies(pool), PostgresEmails(pool), relay, queue, settings.max_email_bytes
        ),
        legacy_intake=PostgresLegacyIntake(pool),
        webhooks=webhook_deliveries(settings, pool),
        retention=retention_pruner(settings, pool),
    )
