"""Enqueues our messages by pinned queue and actor name, with the email's correlation id in the
message options; no actor code needed."""

from __future__ import annotations

from typing import Any

import dramatiq
import pika.exceptions
from dramatiq.errors import BrokerError

from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.model import Route
from mailroute.events import queues


class DramatiqQueues:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue(
        self,
        queue: str,
        actor: str,
        args: tuple[Any, ...],
        *,
        delay_seconds: float = 0.0,
        correlation_id: str | None = None,
    ) -> str:
        options = {"correlation_id": correlation_id} if correlation_id else {}
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue, actor_name=actor, args=args, kwargs={}, options=options
        )
        delay = int(delay_seconds * 1000) or None
        try:
            self._broker.enqueue(message, delay=delay)
        except (BrokerError, pika.exceptions.AMQPError, OSError) as exc:
            raise BrokerUnavailableError(f"RabbitMQ did not confirm: {exc!r}") from exc
        return message.message_id

    def schedule_send(
        self,
        route: Route,
        email_id: str,
        delay_seconds: float = 0.0,
        *,
        correlation_id: str | None = None,
    ) -> None:
        queue, actor = queues.SENDERS[route]
        self.enqueue(
            queue, actor, (email_id,), delay_seconds=delay_seconds, correlation_id=correlation_id
        )
