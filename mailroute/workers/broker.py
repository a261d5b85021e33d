"""The one place the dramatiq broker is built."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from mailroute.adapters.db.dead_letters import PostgresDeadLetters
from mailroute.adapters.db.pool import make_pool
from mailroute.config.settings import Settings
from mailroute.workers.middleware import DeadLetterRecorder, LogContext, WarmUp

# Every time limit and backoff stays far below RabbitMQ's consumer_timeout (30 min by default).
ACTOR_TIME_LIMIT_MS = 5 * 60 * 1000
MAX_BACKOFF_MS = 60 * 1000


def _with_connection_defaults(url: str, *, attempts: int) -> str:
    """Heartbeats and timeouts in the URL (pika parses them there; kwargs would clash with url)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("heartbeat", "30")
    query.setdefault("blocked_connection_timeout", "30")
    query.setdefault("connection_attempts", str(attempts))
    query.setdefault("retry_delay", "1")
    query.setdefault("socket_timeout", "5")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _dead_letter_recorder(settings: Settings) -> Callable[[str, str, str, str], None]:
    """Records into PostgreSQL through a one-connection pool opened on first use."""
    lock = threading.Lock()
    store: list[PostgresDeadLetters] = []

    def record(message_id: str, queue: str, actor: str, reason: str) -> None:
        with lock:
            if not store:
                pool = make_pool(settings, max_size=1)
                pool.open(wait=False)
                store.append(PostgresDeadLetters(pool))
        store[0].record(message_id=message_id, queue=queue, actor=actor, reason=reason)

    return record


def build_broker(settings: Settings, *, worker: bool = False) -> RabbitmqBroker:
    """RabbitMQ with publisher confirms on, so a publish that returns is on disk.

    A worker's broker also records dead letters and exports dramatiq's Prometheus metrics."""
    extra: list[Middleware] = []
    if worker:
        from mailroute.workers.runtime import warm_up

        extra = [DeadLetterRecorder(_dead_letter_recorder(settings)), WarmUp(warm_up)]
        if settings.worker_metrics_port:
            from dramatiq.middleware.prometheus import Prometheus

            extra.append(Prometheus())
    # Only the middleware our actors use (no callbacks, no pipelines): each one is called
    # before and after every message.
    broker = RabbitmqBroker(
        # Workers ride out a broker restart; producers (web, Python publish) learn at once.
        url=_with_connection_defaults(settings.rabbitmq_url, attempts=3 if worker else 1),
        confirm_delivery=True,
        middleware=[
            LogContext(),
            *extra,
            AgeLimit(),
            TimeLimit(time_limit=ACTOR_TIME_LIMIT_MS),
            ShutdownNotifications(),
            Retries(max_retries=10, min_backoff=1000, max_backoff=MAX_BACKOFF_MS),
            CurrentMessage(),
        ],
    )
    dramatiq.set_broker(broker)
    return broker
