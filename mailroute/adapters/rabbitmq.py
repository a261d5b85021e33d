"""RabbitMQ: outcome events to a topic exchange (pika, one AMQP transaction per batch), and
messages to our dramatiq queues without importing actor code.

Errors are translated into `BrokerUnavailableError`, so callers get one clear exception when the
broker cannot confirm a publish.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import timedelta
from typing import Any

import dramatiq
import pika
import pika.exceptions
import psycopg
import structlog
from dramatiq.errors import BrokerError

from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.model import Route
from mailroute.core.ports import StoredEvent
from mailroute.events import queues

log = structlog.get_logger(__name__)
# The relay publishes outbox rows older than this; younger ones are the fast path's.
RELAY_AFTER = timedelta(seconds=10)


class PikaEventPublisher:
    """Publishes JSON events to a durable topic exchange, a batch per AMQP transaction, on one
    connection and channel per thread."""

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
        channel.tx_select()
        channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
        self._local.connection, self._local.channel = connection, channel
        return channel

    def publish_batch(self, events: list[tuple[str, dict[str, Any], str]]) -> None:
        """Publish (routing_key, payload, message_id) triples in one AMQP transaction: one
        round trip for the batch, and when it returns the broker holds every one of them."""
        if not events:
            return
        properties = [
            pika.BasicProperties(
                content_type="application/json", delivery_mode=2, message_id=message_id
            )
            for _, _, message_id in events
        ]
        bodies = [json.dumps(payload, separators=(",", ":")).encode() for _, payload, _ in events]
        for attempt in (1, 2):
            try:
                channel = self._channel()
                for (routing_key, _, _), body, props in zip(
                    events, bodies, properties, strict=True
                ):
                    channel.basic_publish(self._exchange, routing_key, body, props)
                channel.tx_commit()
                return
            except (pika.exceptions.AMQPError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise BrokerUnavailableError(f"RabbitMQ did not commit: {exc!r}") from exc

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


class OutboxRelay:
    """Publishes rows of `outbox_events`: right after the commit that wrote them (web, clock),
    from a worker process's relay thread (`relay_waiting`, see `RelayInBackground`), and later
    for whatever neither could publish (the clock calls `relay_pending`)."""

    def __init__(self, pool: Pool, publisher: PikaEventPublisher) -> None:
        self._pool = pool
        self._publisher = publisher

    def publish_stored(self, outbox_ids: list[int]) -> None:
        if not outbox_ids:
            return
        try:
            self._publish(
                "UPDATE outbox_events SET published_at = now() WHERE id IN ("
                " SELECT id FROM outbox_events WHERE id = ANY(%s) AND published_at IS NULL"
                " FOR UPDATE SKIP LOCKED) RETURNING id, routing_key, payload",
                (outbox_ids,),
            )
        except BrokerUnavailableError:
            log.warning("outbox.publish_deferred", count=len(outbox_ids))

    def publish_events(self, events: list[StoredEvent]) -> None:
        """Events just stored: published like any stored row (their payload is in the table)."""
        self.publish_stored([e.outbox_id for e in events])

    def relay_pending(self, limit: int = 500) -> int:
        """Rows older than `RELAY_AFTER`: the ones no fast path or process relay published."""
        return self._publish(
            "UPDATE outbox_events SET published_at = now() WHERE id IN ("
            " SELECT id FROM outbox_events WHERE published_at IS NULL"
            " AND created_at < now() - %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING id, routing_key, payload",
            (RELAY_AFTER, limit),
        )

    def relay_waiting(self, limit: int = 500) -> int:
        """Every unpublished row, oldest first."""
        return self._publish(
            "UPDATE outbox_events SET published_at = now() WHERE id IN ("
            " SELECT id FROM outbox_events WHERE published_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING id, routing_key, payload",
            (limit,),
        )

    def _publish(self, query: str, params: tuple[Any, ...]) -> int:
        """Mark a batch published and read it (one statement; rows another relay holds are
        skipped), publish it in one broker transaction, then commit: a failed publish rolls the
        marking back, so the rows wait for the next run."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(query, params).fetchall()
            if rows:
                rows.sort(key=lambda r: r["id"])
                self._publisher.publish_batch(
                    [(r["routing_key"], r["payload"], f"outbox-{r['id']}") for r in rows]
                )
        return len(rows)


class RelayInBackground:
    """Outcome publication off the sending threads, for worker processes.

    The statement that records an email's outcome also writes its event to the outbox; here a
    sender only nudges this process's relay thread, which waits `gather_seconds` for more to
    arrive and publishes whatever waits, in batches: per batch one broker transaction and one
    database transaction, however many emails it carries. If the broker is down the rows stay;
    the thread tries again after `retry_seconds`, and the clock relays them too."""

    def __init__(
        self,
        relay: OutboxRelay,
        *,
        gather_seconds: float = 0.1,
        retry_seconds: float = 5.0,
        batch: int = 500,
    ) -> None:
        self._relay = relay
        self._gather = gather_seconds
        self._retry = retry_seconds
        self._batch = batch
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def publish_stored(self, outbox_ids: list[int]) -> None:
        if outbox_ids:
            self._nudge()

    def publish_events(self, events: list[StoredEvent]) -> None:
        if events:
            self._nudge()

    def _nudge(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="outbox-relay", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        failed = False
        while True:
            woken = self._wake.wait(self._retry if failed else None)
            if woken:
                time.sleep(self._gather)
            self._wake.clear()
            try:
                while self._relay.relay_waiting(self._batch) == self._batch:
                    pass
                failed = False
            except (BrokerUnavailableError, psycopg.Error) as exc:  # away: try again later
                log.warning("outbox.relay_deferred", error=repr(exc)[:300])
                failed = True


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
