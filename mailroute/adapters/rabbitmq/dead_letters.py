"""The dead-letter queues (`<queue>.XQ`, where RabbitMQ puts what dramatiq gave up on): list them,
and replay chosen messages onto their queue once, with a fresh retry count.

Listing takes every message without acknowledging it and then closes the channel, so RabbitMQ
puts them all back: nothing is consumed by looking. (On a quorum queue each look counts as a
return; `<queue>.XQ`'s delivery limit is never reached, see `queue_types`.)

A message dramatiq gave up on has its reason recorded by the worker (`DeadLetterRecorder`). One
RabbitMQ dead-lettered by itself (its `x-delivery-limit` reached: every worker that took it
died first) has none; its `x-death` header says why, and `broker_reason` reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dramatiq
import pika
from dramatiq.common import q_name
from dramatiq.errors import DecodeError

from mailroute.adapters.rabbitmq.nodes import Urls, node_parameters
from mailroute.events import queues


@dataclass(frozen=True)
class DeadMessage:
    dead_queue: str
    message_id: str | None
    queue: str | None
    actor: str | None
    args_preview: str
    message: dramatiq.Message[Any] | None
    broker_reason: str | None = None  # why RabbitMQ dead-lettered it, from its x-death header

    @property
    def decodable(self) -> bool:
        return self.message is not None


def broker_reason(headers: dict[str, Any] | None) -> str | None:
    """Why RabbitMQ itself dead-lettered a message, from the first entry of its `x-death`
    header; None for one dramatiq rejected (`rejected`: the worker recorded its reason)."""
    deaths = (headers or {}).get("x-death") or []
    if not deaths or not isinstance(deaths[0], dict):
        return None
    death = deaths[0]
    reason = _text(death.get("reason"))
    if reason in ("", "rejected"):
        return None
    queue = _text(death.get("queue"))
    if reason == "delivery_limit":
        return (
            f"RabbitMQ dead-lettered it from {queue}: its delivery limit was reached (it was"
            " delivered again and again and never acknowledged: each worker that took it"
            " died, or lost its connection, first)"
        )
    return f"RabbitMQ dead-lettered it from {queue}: {reason}"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _preview(message: dramatiq.Message[Any]) -> str:
    text = repr(message.args)
    return text if len(text) <= 120 else text[:117] + "..."


class RabbitDeadLetters:
    def __init__(
        self,
        rabbitmq_urls: Urls,
        *,
        before_replay: Callable[[dramatiq.Message[Any]], object] | None = None,
    ) -> None:
        """`rabbitmq_urls`: RABBITMQ_URL, one node or several. `before_replay` runs for each
        message before it goes back on its queue (it opens the email the message carried
        again); if it raises, the message stays dead."""
        self._params = node_parameters(rabbitmq_urls)
        self._before_replay = before_replay

    def _take_all(self, channel: Any, dead_queue: str) -> list[tuple[int, DeadMessage]]:
        try:
            count = channel.queue_declare(dead_queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return []
        taken = []
        for _ in range(count):
            method, properties, body = channel.basic_get(dead_queue, auto_ack=False)
            if method is None:
                break
            try:
                message: dramatiq.Message[Any] | None = dramatiq.Message.decode(body)
            except DecodeError:
                message = None
            taken.append(
                (
                    method.delivery_tag,
                    DeadMessage(
                        dead_queue=dead_queue,
                        message_id=message.message_id if message else None,
                        queue=q_name(message.queue_name) if message else None,
                        actor=message.actor_name if message else None,
                        args_preview=_preview(message) if message else repr(body[:60]),
                        message=message,
                        broker_reason=broker_reason(getattr(properties, "headers", None)),
                    ),
                )
            )
        return taken

    def look(self, names: Iterable[str] = queues.ALL_QUEUES) -> list[DeadMessage]:
        connection = pika.BlockingConnection(self._params)
        try:
            found: list[DeadMessage] = []
            for name in names:
                channel = connection.channel()
                found += [dead for _, dead in self._take_all(channel, f"{name}.XQ")]
                if channel.is_open:
                    channel.close()  # returns every message we looked at
            return found
        finally:
            connection.close()

    def replay(
        self,
        broker: dramatiq.Broker,
        *,
        message_ids: set[str] | None = None,
        names: Iterable[str] = queues.ALL_QUEUES,
    ) -> list[DeadMessage]:
        """Put chosen dead messages (all when `message_ids` is None) back on their queue once."""
        connection = pika.BlockingConnection(self._params)
        replayed: list[DeadMessage] = []
        try:
            for name in names:
                channel = connection.channel()
                for tag, dead in self._take_all(channel, f"{name}.XQ"):
                    chosen = message_ids is None or dead.message_id in message_ids
                    if not chosen or dead.message is None:
                        continue
                    options = {
                        k: v
                        for k, v in dead.message.options.items()
                        if k not in ("retries", "traceback", "eta", "requeue_timestamp")
                    }
                    # Not `Message.copy`: it merges the options given into the old ones, and
                    # the old retry count would come back with them.
                    fresh = dataclasses.replace(
                        dead.message, queue_name=q_name(dead.message.queue_name), options=options
                    )
                    if self._before_replay is not None:
                        self._before_replay(fresh)
                    broker.enqueue(fresh)  # confirmed before the dead copy is removed
                    channel.basic_ack(tag)
                    replayed.append(dead)
                if channel.is_open:
                    channel.close()
            return replayed
        finally:
            connection.close()
