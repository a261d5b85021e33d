"""The web app: one pool and a fail-fast broker, the intake, the Gmail and Microsoft 365
connection use cases, the reads the pages and the API show, browser sessions and rate limits
kept in PostgreSQL, and the use cases' dependencies for retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dramatiq.brokers.rabbitmq import RabbitmqBroker

from mailroute.adapters.db.browser_sessions import PostgresBrowserSessions
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.pool import Pool, database_reachable
from mailroute.adapters.db.rate_limits import PostgresRateLimits
from mailroute.adapters.rabbitmq.health import broker_reachable
from mailroute.bootstrap.adapters import (
    connection_store,
    dependencies,
    gmail_connections,
    microsoft_connection_store,
    microsoft_connections,
    open_pool,
)
from mailroute.bootstrap.broker import rabbitmq_broker
from mailroute.bootstrap.reauthorization import reauthorization
from mailroute.bootstrap.webhooks import webhook_admin
from mailroute.config.settings import Settings
from mailroute.core.web_ports import BrowserSessions, RateLimits, SessionNotices
from mailroute.services.connections import GmailConnections
from mailroute.services.dependencies import Dependencies
from mailroute.services.intake import Intake
from mailroute.services.microsoft_connections import MicrosoftConnections
from mailroute.services.reauthorization import Reauthorization
from mailroute.services.webhook_endpoints import WebhookAdmin


@dataclass
class WebServices:
    settings: Settings
    pool: Pool
    broker: RabbitmqBroker
    companies: PostgresCompanies
    emails: PostgresEmails
    intake: Intake
    service: GmailConnections
    connections: PostgresConnections
    login_links: PostgresLoginLinks
    browser_sessions: BrowserSessions
    session_notices: SessionNotices
    rate_limits: RateLimits
    deps: Dependencies
    readiness: Callable[[], dict[str, str]]
    webhooks: WebhookAdmin
    # Microsoft 365: None when this server is not set up to sign in with Microsoft.
    microsoft: MicrosoftConnections | None
    microsoft_connections: PostgresConnections
    # The mailbox owner's re-authorization links, from a break's notice.
    reauthorization: Reauthorization
    closers: tuple[Callable[[], None], ...] = ()

    def close(self) -> None:
        for close in self.closers:
            close()
        self.broker.close()
        self.pool.close()


def build_web(settings: Settings) -> WebServices:
    pool = open_pool(settings)
    broker = rabbitmq_broker(settings)
    connections = connection_store(settings, pool)
    # A request's outbox row (the `route_email` task of an email it accepted) is published by
    # the relay thread, with whatever other requests wrote meanwhile: the 202 waits for the
    # commit, not for the broker, and many requests share one publication.
    deps = dependencies(
        settings, broker, pool, connections, relay_in_background=True, gather_seconds=0.005
    )
    companies = PostgresCompanies(pool)
    emails = PostgresEmails(pool)
    sessions = PostgresBrowserSessions(pool)
    ms_store = microsoft_connection_store(settings, pool)
    microsoft, ms_oauth = microsoft_connections(settings, pool, deps.outbox, ms_store)
    gmail = gmail_connections(settings, pool, deps.outbox, connections)
    return WebServices(
        settings=settings,
        pool=pool,
        broker=broker,
        companies=companies,
        emails=emails,
        intake=Intake(companies, emails, deps.outbox, deps.queue, settings.max_email_bytes),
        service=gmail,
        connections=connections,
        login_links=PostgresLoginLinks(pool),
        browser_sessions=sessions,
        session_notices=sessions,
        rate_limits=PostgresRateLimits(pool),
        deps=deps,
        readiness=lambda: {
            "database": database_reachable(pool),
            "broker": broker_reachable(settings.rabbitmq_url),
        },
        webhooks=webhook_admin(settings, pool, deps.outbox),
        microsoft=microsoft,
        microsoft_connections=ms_store,
        reauthorization=reauthorization(
            settings, pool, gmail=gmail, microsoft=microsoft, microsoft_oauth=ms_oauth
        ),
        closers=(ms_oauth.close,) if ms_oauth else (),
    )
