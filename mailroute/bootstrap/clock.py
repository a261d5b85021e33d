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
from mailroute.adapters.db.risc_events import PostgresSecurityEvents
from mailroute.adapters.db.webhook_deliveries import PostgresWebhookDeliveries
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.adapters.rabbitmq.relay import OutboxRelay
from mailroute.bootstrap.adapters import (
    connection_store,
    gmail_connections,
    microsoft_connection_store,
    microsoft_connections,
    open_pool,
    outbox_relay,
)
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.bootstrap.retention import retention_pruner
from mailroute.bootstrap.risc import risc_settings, security_events
from mailroute.bootstrap.webhooks import webhook_deliveries
from mailroute.config.settings import Settings
from mailroute.services.connections import GmailConnections
from mailroute.services.intake import Intake
from mailroute.services.microsoft_connections import MicrosoftConnections
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
    # Microsoft 365 connections, checked (and kept alive) as Gmail's; None when no Microsoft
    # app registration is configured.
    microsoft_connections: PostgresConnections
    microsoft: MicrosoftConnections | None
    microsoft_oauth: MicrosoftOAuth | None
    # Received Cross-Account Protection tokens, pruned after RISC_RETENTION_DAYS.
    security_events: PostgresSecurityEvents
    security_events_kept_days: float

    def close(self) -> None:
        if self.microsoft_oauth is not None:
            self.microsoft_oauth.close()
        self.broker.close()
        self.pool.close()


def build_clock(settings: Settings) -> ClockServices:
    pool = open_pool(settings, max_size=2)
    broker = rabbitmq_broker(settings)
    relay = outbox_relay(settings, pool)
    queue = DramatiqQueues(broker)
    connections = connection_store(settings, pool)
    ms_store = microsoft_connection_store(settings, pool)
    microsoft, ms_oauth = microsoft_connections(settings, pool, relay, ms_store)
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
        microsoft_connections=ms_store,
        microsoft=microsoft,
        microsoft_oauth=ms_oauth,
        security_events=security_events(settings, pool),
        security_events_kept_days=risc_settings(settings).retention_days,
    )
