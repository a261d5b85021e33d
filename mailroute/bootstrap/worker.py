"""Worker processes: the broker (with the dead-letter recorder, which also ends the email a
dead message carried, and warm-up), and the use cases' dependencies, built after fork on first
use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Middleware

from mailroute.adapters.db.abandoned_emails import PostgresAbandonedEmails
from mailroute.adapters.db.dead_letters import PostgresDeadLetters
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.middleware import (
    DeadLetterRecorder,
    DeclareQueuesAtBoot,
    WarmUp,
)
from mailroute.adapters.rabbitmq.relay import OutboxRelay
from mailroute.bootstrap.adapters import connection_store, dependencies, open_pool, outbox_relay
from mailroute.bootstrap.broker import worker_broker
from mailroute.config.settings import Settings
from mailroute.core.abandoned import DeadLetter
from mailroute.services.dead_letters import end_dead_email
from mailroute.services.dependencies import Dependencies


@dataclass(frozen=True)
class _DeadLetterPorts:
    reasons: PostgresDeadLetters
    emails: PostgresEmails
    abandoned: PostgresAbandonedEmails
    relay: OutboxRelay


def _dead_letter_recorder(settings: Settings) -> Callable[[DeadLetter], None]:
    """Records why each message died, and ends the email it carried, through a small pool
    opened on first use (after fork)."""
    lock = threading.Lock()
    built: list[_DeadLetterPorts] = []

    def record(dead: DeadLetter) -> None:
        with lock:
            if not built:
                pool = open_pool(settings, max_size=2)
                built.append(
                    _DeadLetterPorts(
                        PostgresDeadLetters(pool),
                        PostgresEmails(pool),
                        PostgresAbandonedEmails(pool),
                        outbox_relay(settings, pool),
                    )
                )
        ports = built[0]
        try:
            ports.reasons.record(
                message_id=dead.message_id, queue=dead.queue, actor=dead.actor, reason=dead.reason
            )
        finally:  # the email ends even when its reason could not be recorded
            end_dead_email(
                dead,
                store=ports.emails,
                abandoned=ports.abandoned,
                outbox=ports.relay,
                default_from=settings.default_from,
            )

    return record


def build_worker_broker(settings: Settings, *, warm_up: Callable[[], object]) -> RabbitmqBroker:
    extra: list[Middleware] = [
        DeclareQueuesAtBoot(),
        DeadLetterRecorder(_dead_letter_recorder(settings)),
        WarmUp(warm_up),
    ]
    if settings.worker_metrics_port:
        from dramatiq.middleware.prometheus import Prometheus

        extra.append(Prometheus())
    return worker_broker(settings, extra)


def build_worker(settings: Settings, broker: RabbitmqBroker) -> tuple[Dependencies, Pool]:
    """The dependencies of this worker process, every pool connection a thread may need."""
    pool = open_pool(settings, min_size=settings.db_pool_size)
    deps = dependencies(
        settings, broker, pool, connection_store(settings, pool), relay_in_background=True
    )
    return deps, pool
