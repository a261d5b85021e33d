"""Worker processes: the broker (with the dead-letter recorder and warm-up), and the use cases'
dependencies, built after fork on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Middleware

from mailroute.adapters.db.dead_letters import PostgresDeadLetters
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.broker import build_broker
from mailroute.adapters.rabbitmq.middleware import DeadLetterRecorder, WarmUp
from mailroute.bootstrap.adapters import connection_store, dependencies, open_pool
from mailroute.config.settings import Settings
from mailroute.services.dependencies import Dependencies


def _dead_letter_recorder(settings: Settings) -> Callable[[str, str, str, str], None]:
    """Records into PostgreSQL through a one-connection pool opened on first use (after fork)."""
    lock = threading.Lock()
    store: list[PostgresDeadLetters] = []

    def record(message_id: str, queue: str, actor: str, reason: str) -> None:
        with lock:
            if not store:
                store.append(PostgresDeadLetters(open_pool(settings, max_size=1)))
        store[0].record(message_id=message_id, queue=queue, actor=actor, reason=reason)

    return record


def build_worker_broker(settings: Settings, *, warm_up: Callable[[], object]) -> RabbitmqBroker:
    extra: list[Middleware] = [DeadLetterRecorder(_dead_letter_recorder(settings)), WarmUp(warm_up)]
    if settings.worker_metrics_port:
        from dramatiq.middleware.prometheus import Prometheus

        extra.append(Prometheus())
    return build_broker(settings.rabbitmq_url, worker=True, extra=extra)


def build_worker(settings: Settings, broker: RabbitmqBroker) -> tuple[Dependencies, Pool]:
    """The dependencies of this worker process, every pool connection a thread may need."""
    pool = open_pool(settings, min_size=settings.db_pool_size)
    deps = dependencies(
        settings, broker, pool, connection_store(settings, pool), relay_in_background=True
    )
    return deps, pool
