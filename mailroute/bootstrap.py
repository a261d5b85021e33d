"""The composition root: the one place where settings meet adapters and become `Deps`."""

from __future__ import annotations

from datetime import timedelta

import dramatiq

from mailroute.adapters.connection_events import OutboxConnectionEvents
from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import (
    PostgresCompanies,
    RecentSenderContexts,
    sender_context,
)
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.notices import PostgresNotices
from mailroute.adapters.db.oauth_states import PostgresOAuthStates
from mailroute.adapters.db.pacing import PostgresPacing
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.google.gmail import GmailSender
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.adapters.google.tokens import GmailTokens
from mailroute.adapters.pacing_metrics import PrometheusPacingMetrics
from mailroute.adapters.rabbitmq import (
    DramatiqQueues,
    OutboxRelay,
    PikaEventPublisher,
    RelayInBackground,
)
from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.config.settings import Settings
from mailroute.core.pacing import PacingPolicy
from mailroute.core.retry import RetryPolicy
from mailroute.services.authorization_state import StateSigner
from mailroute.services.connections import GmailConnections
from mailroute.services.deps import Deps


def build_deps(
    settings: Settings,
    broker: dramatiq.Broker,
    pool: Pool | None = None,
    *,
    relay_in_background: bool = False,
) -> Deps:
    """Build every adapter a worker or the web app needs. Opens the pool (no other I/O).

    Worker processes relay outcome events from a thread of their own, in batches
    (`relay_in_background`); elsewhere they are published right after their commit."""
    if pool is None:
        pool = make_pool(settings)
        pool.open(wait=False)
    db: Pool = pool
    publisher = PikaEventPublisher(settings.rabbitmq_url, settings.events_exchange)
    relay = OutboxRelay(db, publisher)
    queues = DramatiqQueues(broker)
    connections = PostgresConnections(db, TokenCipher(settings.token_encryption_keys))
    oauth = GoogleOAuth(settings)
    margin = settings.gmail_token_refresh_margin_seconds
    tokens = GmailTokens(
        connections,
        lambda refresh_token: oauth.refresh(refresh_token)[:2],
        margin=timedelta(seconds=margin),
    )
    gmail = GmailSender(
        tokens,
        root_url=settings.google_endpoint("gmail_root_url"),
        timeout=settings.gmail_timeout_seconds,
        upload_threshold=settings.gmail_upload_threshold_bytes,
        resumable_threshold=settings.gmail_resumable_threshold_bytes,
    )
    retry_base = settings.retry_base_seconds
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
        scheduler=queues,
        outcomes=RelayInBackground(relay) if relay_in_background else relay,
        retry_policy=RetryPolicy(max_attempts=settings.smtp_max_attempts, base_seconds=retry_base),
        gmail=gmail,
        connections=connections,
        connection_events=OutboxConnectionEvents(db, relay, queues),
        notices=PostgresNotices(db),
        queue=queues,
        gmail_retry_policy=RetryPolicy(
            max_attempts=settings.gmail_max_attempts, base_seconds=retry_base
        ),
        max_scheduled_delay_seconds=settings.max_scheduled_retry_seconds,
        pacing=PostgresPacing(db),
        pacing_policy=PacingPolicy(
            sends_per_minute=settings.gmail_sends_per_minute,
            max_concurrent=settings.gmail_max_concurrent_sends,
            max_delay_seconds=settings.max_scheduled_retry_seconds,
            # A lease outlives the slowest send: a token refresh and the request's own timeout.
            lease_seconds=4 * settings.gmail_timeout_seconds,
        ),
        pacing_metrics=PrometheusPacingMetrics(),
        recent_sender_context=RecentSenderContexts(
            lambda company_id: sender_context(db, company_id)
        ),
    )


def build_gmail_connections(
    settings: Settings, pool: Pool, broker: dramatiq.Broker
) -> tuple[GmailConnections, PostgresConnections]:
    """The Gmail connection use cases (connect, verify, revoke) and their store, for the web app
    and the clock."""
    cipher = TokenCipher(settings.token_encryption_keys)
    connections = PostgresConnections(pool, cipher)
    publisher = PikaEventPublisher(settings.rabbitmq_url, settings.events_exchange)
    service = GmailConnections(
        connections=connections,
        states=PostgresOAuthStates(pool, cipher),
        oauth=GoogleOAuth(settings),
        signer=StateSigner(settings.secret_key),
        events=OutboxConnectionEvents(pool, OutboxRelay(pool, publisher), DramatiqQueues(broker)),
        secret_key=settings.secret_key,
    )
    return service, connections
