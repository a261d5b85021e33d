"""RabbitMQ: outcome events to a topic exchange (pika, publisher confirms), and messages to our
dramatiq queues without importing actor code.

Errors are translated into `BrokerUnavailableError`, so callers get one clear exception when the
broker cannot confirm a publish.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import timedelta
from typing import Any

import dramatiq
import pika
import pika.exceptions
import structlog
from dramatiq.errors import BrokerError

from mailroute.adapters.db.pool import Pool
from mailroute.core.model import Route
from mailroute.core.ports import StoredEvent
from mailroute.events import queues

log = structlog.get_logger(__name__)
# The relay publishes outbox rows older than this; younger ones are the fast path's.
RELAY_AFTER = timedelta(seconds=10)


class BrokerUnavailableError(RuntimeError):
    """RabbitMQ did not confirm the publish; nothing was sent."""


class PikaEventPublisher:
    """Publishes JSON events to a durable topic exchange, one confirmed channel per thread."""

    def __init__(self, url: str, exchange: str) -> None:
        self._params = pika.URLParameters(url)
        self._params.heartbeat = 30
        self._params.blocked_connection_timeout = 30
        self._params.socket_timeout = 5
        self._exchange = exchange
        self._local = threading.local()

    def _channel(self) -> Any:
        channel = getattr(self._local, "channel", None)
        if channel is not None and channel.is_open:
            return channel
        self.close()
        connection = pika.BlockingConnection(self._params)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
        self._local.connection, self._local.channel = connection, channel
        return channel

    def publish(self, routing_key: str, payload: dict[str, Any], *, message_id: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=message_id
        )
        for attempt in (1, 2):
            try:
                self._channel().basic_publish(self._exchange, routing_key, body, properties)
                return
            except (pika.exceptions.AMQPError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise BrokerUnavailableError(f"RabbitMQ did not confirm: {exc!r}") from exc

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


class OutboxRelay:
    """Publishes rows of `outbox_events`: right after the commit that wrote them, and later for
    whatever that fast path could not publish (the clock calls `relay_pending`)."""

    def __init__(self, pool: Pool, publisher: PikaEventPublisher) -> None:
        self._pool = pool
        self._publisher = publisher

    def publish_stored(self, outbox_ids: list[int]) -> None:
        if not outbox_ids:
            return
        try:
            self._publish(
                "SELECT id, routing_key, payload FROM outbox_events"
                " WHERE id = ANY(%s) AND published_at IS NULL FOR UPDATE SKIP LOCKED",
                (outbox_ids,),
            )
        except BrokerUnavailableError:
            log.warning("outbox.publish_deferred", count=len(outbox_ids))

    def publish_events(self, events: list[StoredEvent]) -> None:
        """The fast path: publish events just stored (payload in hand), then mark them in one
        statement. The relay leaves rows younger than `RELAY_AFTER` to this path, so the two
        rarely overlap; when they do, consumers see an event twice (they de-duplicate anyway)."""
        if not events:
            return
        try:
            for event in events:
                self._publisher.publish(
                    event.routing_key, event.payload, message_id=f"outbox-{event.outbox_id}"
                )
        except BrokerUnavailableError:
            log.warning("outbox.publish_deferred", count=len(events))
            return
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE outbox_events SET published_at = now() WHERE id = ANY(%s)",
                ([e.outbox_id for e in events],),
            )

    def relay_pending(self, limit: int = 500) -> int:
        return self._publish(
            "SELECT id, routing_key, payload FROM outbox_events WHERE published_at IS NULL"
            " AND created_at < now() - %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (RELAY_AFTER, limit),
        )

    def _publish(self, query: str, params: tuple[Any, ...]) -> int:
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(query, params).fetchall()
            for row in rows:
                self._publisher.publish(
                    row["routing_key"], row["payload"], message_id=f"outbox-{row['id']}"
                )
            if rows:
                conn.execute(
                    "UPDATE outbox_events SET published_at = now() WHERE id = ANY(%s)",
                    ([row["id"] for row in rows],),
                )
        return len(rows)


class DramatiqQueues:
    """Enqueues our messages by pinned queue and actor name; no actor code needed."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue(
        self, queue: str, actor: str, args: tuple[Any, ...], *, delay_seconds: float = 0.0
    ) -> str:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}
        )
        delay = int(delay_seconds * 1000) or None
        try:
            self._broker.enqueue(message, delay=delay)
        except (BrokerError, pika.exceptions.AMQPError, OSError) as exc:
            raise BrokerUnavailableError(f"RabbitMQ did not confirm: {exc!r}") from exc
        return message.message_id

    def schedule_send(self, route: Route, email_id: str, delay_seconds: float = 0.0) -> None:
        queue, actor = queues.SENDERS[route]
        self.enqueue(queue, actor, (email_id,), delay_seconds=delay_seconds)
