"""Outcome webhooks' adapters: the admin's use cases for the web app, the delivery's
dependencies for worker processes (a small pool of their own, opened on first use after fork),
and the clock's re-drive."""

from __future__ import annotations

from datetime import timedelta

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.webhook_deliveries import PostgresWebhookDeliveries
from mailroute.adapters.db.webhook_endpoints import PostgresWebhookEndpoints
from mailroute.adapters.dns import SystemResolver
from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.adapters.webhook_http import HttpxWebhookTransport
from mailroute.bootstrap.adapters import open_pool, outbox_relay
from mailroute.config.settings import Settings
from mailroute.core.ports import Outbox
from mailroute.core.webhook_addresses import Network, parse_networks
from mailroute.core.webhook_rules import DisablePolicy, RetrySchedule
from mailroute.services.webhook_delivery import WebhookDeliveryDeps
from mailroute.services.webhook_endpoints import WebhookAdmin


def allowed_networks(settings: Settings) -> tuple[Network, ...]:
    return parse_networks(settings.webhook_allowed_private_networks)


def webhook_deliveries(settings: Settings, pool: Pool) -> PostgresWebhookDeliveries:
    return PostgresWebhookDeliveries(pool, TokenCipher(settings.token_encryption_keys))


def webhook_admin(settings: Settings, pool: Pool, outbox: Outbox) -> WebhookAdmin:
    """What an admin does with webhooks, for the JSON API and the settings page."""
    endpoints = PostgresWebhookEndpoints(pool, TokenCipher(settings.token_encryption_keys))
    return WebhookAdmin(
        endpoints,
        endpoints,
        endpoints,
        resolver=SystemResolver(),
        outbox=outbox,
        allowed_networks=allowed_networks(settings),
    )


def webhook_delivery(settings: Settings) -> WebhookDeliveryDeps:
    """A worker process's webhook delivery, on a pool of its own."""
    pool = open_pool(settings, max_size=4)
    deliveries = webhook_deliveries(settings, pool)
    return WebhookDeliveryDeps(
        attempts=deliveries,
        notices=deliveries,
        resolver=SystemResolver(),
        transport=HttpxWebhookTransport(
            connect_timeout=settings.webhook_connect_timeout_seconds,
            total_timeout=settings.webhook_timeout_seconds,
        ),
        outbox=outbox_relay(settings, pool),
        mail=SmtpSender(
            SmtpServer.from_url(settings.smtp_url), timeout=settings.smtp_timeout_seconds
        ),
        default_from=settings.default_from,
        public_base_url=settings.public_base_url,
        schedule=RetrySchedule(settings.webhook_retry_schedule),
        disable=DisablePolicy(timedelta(days=settings.webhook_disable_after_days)),
        allowed_networks=allowed_networks(settings),
    )
