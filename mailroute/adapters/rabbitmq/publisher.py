"""Publishes outbox rows: events as JSON to the durable topic exchange, tasks as dramatiq messages
to their queue (declared as dramatiq declares it), a batch per AMQP transaction on one connection
and channel per thread."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from typing import Any

import dramatiq
import pika
import pika.exceptions

from mailroute.adapters.db.outbox import OutboxRow
from mailroute.adapters.rabbitmq.broker import declare_dramatiq_queue
from mailroute.core.errors import BrokerUnavailableError, MessageRefusedError

_MESSAGE_IDS = uuid.UUID("2d1b1f4e-6c55-4a36-9d5c-0a1f3c6e8b27")


def task_message(row: OutboxRow) -> dramatiq.Message[Any]:
    """The dramatiq message of a task row; its id is derived from the row's, so a row published
    twice (a crash before the commit) is recognisable as the same message."""
    options = {"correlation_id": row.correlation_id} if row.correlation_id else {}
    return dramatiq.Message(
        queue_name=row.routing_key,
        actor_name=str(row.actor_name),
        args=tuple(row.args),
        kwargs={},
        options=options,
        message_id=str(uuid.uuid5(_MESSAGE_IDS, f"outbox-{row.id}")),
        message_timestamp=int(time.time() * 1000),
    )


class PikaPublisher:
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
        if not self._connection_open():
            self.close()
            self._local.connection = pika.BlockingConnection(self._params)
        channel = self._local.connection.channel()
        channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
        channel.tx_select()
        self._local.channel = channel
        self._local.declared = set()
        return channel

    def _queue(self, channel: Any, queue: str) -> None:
        if queue not in self._local.declared:
            declare_dramatiq_queue(channel, queue)
            self._local.declared.add(queue)

    def publish(self, rows: list[OutboxRow]) -> None:
        """Publish the rows in one AMQP transaction: when it returns, the broker holds every one.

        Raises `MessageRefusedError` when the broker refused the batch on a working connection
        (a message over its size limit, say: which one is for the caller to find), and
        `BrokerUnavailableError` when it cannot be reached."""
        if not rows:
            return
        for attempt in (1, 2):
            try:
                channel = self._channel()
                for row in rows:
                    self._publish_one(channel, row)
                channel.tx_commit()
                return
            except pika.exceptions.ChannelClosedByBroker as exc:
                connection_alive = self._connection_open()
                self._drop_channel()
                if connection_alive:
                    raise MessageRefusedError(f"{exc.reply_code} {exc.reply_text}") from exc
                if attempt == 2:
                    raise BrokerUnavailableError(f"RabbitMQ did not commit: {exc!r}") from exc
            except (pika.exceptions.AMQPError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise BrokerUnavailableError(f"RabbitMQ did not commit: {exc!r}") from exc

    def _publish_one(self, channel: Any, row: OutboxRow) -> None:
        if row.is_task:
            self._queue(channel, row.routing_key)
            message = task_message(row)
            properties = pika.BasicProperties(delivery_mode=2, correlation_id=row.correlation_id)
            channel.basic_publish("", row.routing_key, message.encode(), properties)
            return
        body = json.dumps(row.payload, separators=(",", ":")).encode()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=f"outbox-{row.id}",
            correlation_id=row.correlation_id,
        )
        channel.basic_publish(self._exchange, row.routing_key, body, properties)

    def _connection_open(self) -> bool:
        connection = getattr(self._local, "connection", None)
        return bool(connection is not None and connection.is_open)

    def _drop_channel(self) -> None:
        """A channel the broker closed; the connection stays for the next batch."""
        self._local.channel = None

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()
