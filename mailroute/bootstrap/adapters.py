"""Adapters shared by several kinds of process, each built from the process's one `Settings`."""

from __future__ import annotations

from datetime import timedelta

import dramatiq

from mailroute.adapters.access_tokens import AccessTokens
from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import RecentSenderContexts, sender_context
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.oauth_states import PostgresOAuthStates
from mailroute.adapters.db.one_notice_per_break import PostgresNotices
from mailroute.adapters.db.outbox import OutboxRow
from mailroute.adapters.db.pacing import PostgresPacing
from mailroute.adapters.db.pending_revocations import PostgresPendingRevocations
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.google.gmail import GmailSender
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.adapters.microsoft.graph import GraphSender
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.adapters.microsoft.transport import MicrosoftSender
from mailroute.adapters.pacing_metrics import PrometheusPacingMetrics
from mailroute.adapters.rabbitmq.publisher import PikaPublisher
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.adapters.rabbitmq.relay import OutboxRelay, RelayInBackground
from mailroute.adapters.smtp import SmtpSender, SmtpServer
from mailroute.bootstrap.broker import queue_type
from mailroute.bootstrap.reauthorization import reauthorization_links
from mailroute.config.settings import Settings
from mailroute.core.pacing import PacingPolicy, microsoft_policy
from mailroute.core.ports import Outbox
from mailroute.core.retry import RetryPolicy
from mailroute.services.connections import GmailConnections
from mailroute.services.dead_letters import fail_refused_task
from mailroute.services.dependencies import Dependencies
from mailroute.services.microsoft_connections import MicrosoftConnections
from mailroute.services.revocations import GoogleRevocations
from mailroute.services.signed_oauth_state import MICROSOFT_STATE_SALT, StateSigner


def open_pool(settings: Settings, *, min_size: int = 1, max_size: int | None = None) -> Pool:
    pool = make_pool(settings, min_size=min_size, max_size=max_size)
    pool.open(wait=False)
    return pool


def outbox_relay(settings: Settings, pool: Pool) -> OutboxRelay:
    """The relay, with what it does when the broker refuses a row: the email it was about
    fails with `broker_refused` (and that failure's event goes through the same relay)."""
    emails = PostgresEmails(pool)

    def on_refused(row: OutboxRow, reason: str) -> None:
        fail_refused_task(emails, relay, row.actor_name, row.args, reason)

    relay = OutboxRelay(
        pool,
        PikaPublisher(settings.rabbitmq_url, settings.events_exchange, queue_type(settings)),
        on_refused,
    )
    return relay


def connection_store(settings: Settings, pool: Pool) -> PostgresConnections:
    """The Gmail connections store; one per process, shared by every use case that needs it."""
    return PostgresConnections(pool, TokenCipher(settings.token_encryption_keys))


def gmail_connections(
    settings: Settings, pool: Pool, outbox: Outbox, connections: PostgresConnections
) -> GmailConnections:
    """The Gmail connection use cases (connect, verify, revoke), for the web app and the clock."""
    oauth = GoogleOAuth(settings)
    pending = PostgresPendingRevocations(pool, TokenCipher(settings.token_encryption_keys))
    retry = RetryPolicy(
        base_seconds=settings.revocation_retry_base_seconds,
        cap_seconds=settings.revocation_retry_max_seconds,
    )
    return GmailConnections(
        connections=connections,
        states=PostgresOAuthStates(pool, TokenCipher(settings.token_encryption_keys)),
        oauth=oauth,
        signer=StateSigner(settings.secret_key),
        outbox=outbox,
        secret_key=settings.secret_key,
        revocations=GoogleRevocations(pending, oauth, retry=retry),
        links=reauthorization_links(pool),
    )


# Graph's request timeout; a send's pacing lease outlives a refresh and a few of them.
GRAPH_TIMEOUT_SECONDS = 30.0


def microsoft_redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/oauth/microsoft/callback"


def microsoft_oauth(settings: Settings) -> MicrosoftOAuth:
    return MicrosoftOAuth(settings.microsoft, redirect_uri=microsoft_redirect_uri(settings))


def microsoft_connection_store(settings: Settings, pool: Pool) -> PostgresConnections:
    """The Microsoft 365 connections store (the same table, scoped to the provider)."""
    return PostgresConnections(
        pool, TokenCipher(settings.token_encryption_keys), provider="microsoft"
    )


def microsoft_sender(settings: Settings, pool: Pool) -> MicrosoftSender:
    """Sending through Microsoft Graph as connected mailboxes: tokens from each connection's
    stored msal cache (rotations stored as they happen), one Graph client per process."""
    oauth = microsoft_oauth(settings)
    tokens = AccessTokens(
        microsoft_connection_store(settings, pool),
        oauth.renew,
        forced=lambda credential: oauth.renew(credential, force_refresh=True),
        provider="microsoft",
        margin=timedelta(seconds=settings.gmail_token_refresh_margin_seconds),
    )
    graph = GraphSender(
        settings.microsoft.graph_url,
        ca_file=settings.microsoft.ca_file,
        timeout=GRAPH_TIMEOUT_SECONDS,
    )
    return MicrosoftSender(tokens, graph, oauth=oauth)


def microsoft_connections(
    settings: Settings, pool: Pool, outbox: Outbox, connections: PostgresConnections
) -> tuple[MicrosoftConnections | None, MicrosoftOAuth | None]:
    """The Microsoft 365 use cases and their msal adapter (to close), or (None, None) when no
    Microsoft app registration is configured."""
    if not settings.microsoft.client_id:
        return None, None
    oauth = microsoft_oauth(settings)
    service = MicrosoftConnections(
        connections=connections,
        states=PostgresOAuthStates(pool, TokenCipher(settings.token_encryption_keys)),
        oauth=oauth,
        signer=StateSigner(settings.secret_key, salt=MICROSOFT_STATE_SALT),
        outbox=outbox,
        secret_key=settings.secret_key,
        # Where Microsoft's sign-out sends the browser back to.
        signed_out_uri=settings.public_base_url.rstrip("/") + "/settings/email",
        links=reauthorization_links(pool),
    )
    return service, oauth


def dependencies(
    settings: Settings,
    broker: dramatiq.Broker,
    pool: Pool,
    connections: PostgresConnections,
    *,
    relay_in_background: bool = False,
    gather_seconds: float = 0.1,
) -> Dependencies:
    """Everything the dispatch, send and notify use cases need (worker processes, and the web
    app's intake and retries). Worker processes and the web app relay outbox rows from a thread
    of their own, in batches (`relay_in_background`, gathering for `gather_seconds` after a
    nudge); elsewhere right after their commit."""
    relay = outbox_relay(settings, pool)
    oauth = GoogleOAuth(settings)
    tokens = AccessTokens(
        connections,
        lambda refresh_token: oauth.refresh(refresh_token)[:2],
        margin=timedelta(seconds=settings.gmail_token_refresh_margin_seconds),
    )
    retry_base = settings.retry_base_seconds
    return Dependencies(
        settings=settings,
        emails=PostgresEmails(pool),
        sender_context=lambda company_id: sender_context(pool, company_id),
        transports={
            "default": SmtpSender(
                SmtpServer.from_url(settings.smtp_url), timeout=settings.smtp_timeout_seconds
            ),
        },
        queue=DramatiqQueues(broker),
        outbox=(
            RelayInBackground(relay, gather_seconds=gather_seconds)
            if relay_in_background
            else relay
        ),
        breaks=connections,
        notices=PostgresNotices(pool),
        retry_policy=RetryPolicy(max_attempts=settings.smtp_max_attempts, base_seconds=retry_base),
        mailbox_retry_policy=RetryPolicy(
            max_attempts=settings.gmail_max_attempts, base_seconds=retry_base
        ),
        mailboxes={
            "gmail": GmailSender(
                tokens,
                root_url=settings.google_endpoint("gmail_root_url"),
                timeout=settings.gmail_timeout_seconds,
                upload_threshold=settings.gmail_upload_threshold_bytes,
                resumable_threshold=settings.gmail_resumable_threshold_bytes,
            ),
            "microsoft": microsoft_sender(settings, pool),
        },
        max_scheduled_delay_seconds=settings.max_scheduled_retry_seconds,
        pacing=PostgresPacing(pool),
        pacing_policies={
            "gmail": PacingPolicy(
                sends_per_minute=settings.gmail_sends_per_minute,
                max_concurrent=settings.gmail_max_concurrent_sends,
                max_delay_seconds=settings.max_scheduled_retry_seconds,
                # A lease outlives the slowest send: a token refresh and the request's timeout.
                lease_seconds=4 * settings.gmail_timeout_seconds,
            ),
            "microsoft": microsoft_policy(
                max_delay_seconds=settings.max_scheduled_retry_seconds,
                lease_seconds=4 * GRAPH_TIMEOUT_SECONDS,
            ),
        },
        pacing_metrics=PrometheusPacingMetrics(),
        recent_sender_context=RecentSenderContexts(
            lambda company_id: sender_context(pool, company_id)
        ),
    )
