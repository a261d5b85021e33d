"""The dramatiq broker on RabbitMQ: our queue declarations (`queue_types`) for every queue
dramatiq declares, on the first node that answers (`nodes`), with publisher confirms.

`MailrouteBroker` is dramatiq's `RabbitmqBroker` with three changes: its queues are declared
by `queue_types` (quorum queues by default, whatever their name, so a queue added tomorrow is
one too); a queue that exists with other arguments raises `QueueTypeMismatchError`, naming
RABBITMQ_QUEUE_TYPE, instead of a connection error retried for ever; and each delivery carries
RabbitMQ's `x-delivery-count` as `delivery_count`, for `RedeliveryLimit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from mailroute.adapters.rabbitmq import queue_types
from mailroute.adapters.rabbitmq.middleware import LogContext, RedeliveryLimit
from mailroute.adapters.rabbitmq.nodes import Urls, node_urls, with_connection_defaults
from mailroute.adapters.rabbitmq.queue_types import QueueType, QueueTypeMismatchError

# Every time limit and backoff stays far below RabbitMQ's consumer_timeout (30 min by default).
ACTOR_TIME_LIMIT_MS = 5 * 60 * 1000
MAX_BACKOFF_MS = 60 * 1000
DEFAULT_QUEUE_TYPE: QueueType = "quorum"


class _CountingConsumer(_RabbitmqConsumer):
    """dramatiq's consumer, keeping each delivery's `x-delivery-count` on its message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._counts: dict[int, int] = {}
        self.iterator = self._counting(self.iterator)

    def _counting(self, deliveries: Iterator[Any]) -> Iterator[Any]:
        for method, properties, body in deliveries:
            if method is not None:
                headers = getattr(properties, "headers", None) or {}
                self._counts[method.delivery_tag] = int(headers.get("x-delivery-count") or 0)
            yield method, properties, body

    def __next__(self) -> Any:
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is not None:
            message.delivery_count = self._counts.pop(message._tag, 0)
        return message


class MailrouteBroker(RabbitmqBroker):
    def __init__(self, *, queue_type: QueueType = DEFAULT_QUEUE_TYPE, **kwargs: Any) -> None:
        if queue_type not in queue_types.QUEUE_TYPES:
            raise ValueError(f"queue_type must be one of {queue_types.QUEUE_TYPES}")
        if queue_type == "quorum" and kwargs.get("max_priority"):
            raise ValueError("quorum queues have no x-max-priority")
        super().__init__(**kwargs)
        self.queue_type: QueueType = queue_type

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return _CountingConsumer

    def _declare(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return queue_types.declare(self.channel, name, arguments, self.queue_type)
        except QueueTypeMismatchError:
            del self.channel  # the broker closed it
            raise

    def _declare_queue(self, queue_name: str) -> Any:
        arguments = queue_types.work_queue_arguments(queue_name, self.queue_type)
        return self._declare(queue_name, arguments)

    def _declare_dq_queue(self, queue_name: str) -> Any:
        arguments = queue_types.delay_queue_arguments(queue_name, self.queue_type)
        return self._declare(dq_name(queue_name), arguments)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self._declare(xq_name(queue_name), queue_types.dead_queue_arguments(self.queue_type))

    def declare_now(self, names: Iterable[str]) -> bool:
        """Declare these queues (and their companions) on the broker now: False when it cannot
        be reached; `QueueTypeMismatchError` when one exists with other arguments. The
        connection it used is closed after (this thread may never publish)."""
        try:
            for name in names:
                self.declare_queue(name, ensure=True)
        except BrokerConnectionError:
            return False
        finally:
            del self.connection
        return True


def build_broker(
    url: Urls,
    *,
    worker: bool,
    extra: list[Middleware] | None = None,
    queue_type: QueueType = DEFAULT_QUEUE_TYPE,
) -> MailrouteBroker:
    """RabbitMQ with publisher confirms on, so a publish that returns is on a quorum of the
    queue's replicas (or on disk, classic); set as dramatiq's global broker (actors declare
    themselves on it). `url` is RABBITMQ_URL: one node or several.

    Only the middleware our actors use (no callbacks, no pipelines): each one is called before
    and after every message. Workers ride out a broker restart; producers (web, Python
    `publish`) learn at once."""
    attempts = 3 if worker else 1
    broker = MailrouteBroker(
        url=[with_connection_defaults(u, attempts=attempts) for u in node_urls(url)],
        confirm_delivery=True,
        queue_type=queue_type,
        middleware=[
            LogContext(),
            RedeliveryLimit(queue_types.REDELIVERY_LIMIT),
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
