"""The dramatiq broker on RabbitMQ, and the queue declaration it shares with the publisher."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from mailroute.adapters.rabbitmq.middleware import LogContext

# Every time limit and backoff stays far below RabbitMQ's consumer_timeout (30 min by default).
ACTOR_TIME_LIMIT_MS = 5 * 60 * 1000
MAX_BACKOFF_MS = 60 * 1000


def with_connection_defaults(url: str, *, attempts: int) -> str:
    """Heartbeats and timeouts in the URL (pika parses them there; kwargs would clash with url)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("heartbeat", "30")
    query.setdefault("blocked_connection_timeout", "30")
    query.setdefault("connection_attempts", str(attempts))
    query.setdefault("retry_delay", "1")
    query.setdefault("socket_timeout", "5")
    return urlunsplit(parts._replace(query=urlencode(query)))


def declare_dramatiq_queue(channel: Any, queue: str) -> None:
    """Declare `queue` with its delay and dead-letter companions exactly as dramatiq's broker
    does, so a task published before any worker started is routed, not dropped."""
    arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue)}
    channel.queue_declare(queue=queue, durable=True, arguments=arguments)
    channel.queue_declare(queue=dq_name(queue), durable=True, arguments=arguments)
    channel.queue_declare(
        queue=xq_name(queue), durable=True, arguments={"x-message-ttl": DEAD_MESSAGE_TTL}
    )


def build_broker(
    url: str, *, worker: bool, extra: list[Middleware] | None = None
) -> RabbitmqBroker:
    """RabbitMQ with publisher confirms on, so a publish that returns is on disk; set as
    dramatiq's global broker (actors declare themselves on it).

    Only the middleware our actors use (no callbacks, no pipelines): each one is called before
    and after every message. Workers ride out a broker restart; producers (web, Python
    `publish`) learn at once."""
    broker = RabbitmqBroker(
        url=with_connection_defaults(url, attempts=3 if worker else 1),
        confirm_delivery=True,
        middleware=[
            LogContext(),
            *(extra or []),
            AgeLimit(),
            TimeLimit(time_limit=ACTOR_TIME_LIMIT_MS),
            ShutdownNotifications(),
            Retries(max_retries=10, min_backoff=1000, max_backoff=MAX_BACKOFF_MS),
            CurrentMessage(),
        ],
    )
    dramatiq.set_broker(broker)
    return broker
