"""Google's Cross-Account Protection: the web app's receiver, a worker's processing (on a small
pool of its own, opened on first use after fork) and the CLI's stream configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.risc_events import PostgresSecurityEvents
from mailroute.adapters.google.risc_api import RiscStreamApi, service_account_signer
from mailroute.adapters.google.risc_tokens import GoogleSecurityEventVerifier
from mailroute.bootstrap.adapters import open_pool, outbox_relay
from mailroute.config.risc_settings import RiscSettings
from mailroute.config.settings import Settings
from mailroute.core.ports import Outbox
from mailroute.core.risc import Freshness
from mailroute.services.security_events import SecurityEventHandling, SecurityEventReceiver


def risc_settings(settings: Settings, env: Mapping[str, str] | None = None) -> RiscSettings:
    """The RISC settings beside the process's `Settings` (GOOGLE_RISC_*, RISC_*)."""
    return RiscSettings.from_env(os.environ if env is None else env, settings)


def security_events(settings: Settings, pool: Pool) -> PostgresSecurityEvents:
    return PostgresSecurityEvents(pool, TokenCipher(settings.token_encryption_keys))


def risc_receiver(settings: Settings, pool: Pool, outbox: Outbox) -> SecurityEventReceiver:
    """The receiver of `POST /risc/events`, on the web app's pool and outbox."""
    risc = risc_settings(settings)
    verifier = GoogleSecurityEventVerifier(
        risc.configuration_url,
        risc.audience,
        Freshness(max_age=timedelta(seconds=risc.max_token_age_seconds)),
    )
    return SecurityEventReceiver(verifier, security_events(settings, pool), outbox)


def risc_handling(settings: Settings) -> SecurityEventHandling:
    """A worker process's processing of stored tokens, on a pool of its own."""
    pool = open_pool(settings, max_size=4)
    events = security_events(settings, pool)
    return SecurityEventHandling(
        store=events,
        connections=events,
        breaks=PostgresConnections(pool, TokenCipher(settings.token_encryption_keys)),
        outbox=outbox_relay(settings, pool),
    )


def risc_stream_api(settings: Settings) -> RiscStreamApi:
    """The RISC API client the `mailroute risc` commands use, as the service account."""
    risc = risc_settings(settings)
    return RiscStreamApi(risc.api_root, service_account_signer(risc))
