"""The ports the use cases talk through. Real adapters live in `adapters/`; in-memory fakes
in `tests/fakes.py`. Each is small: one to three methods and the value types they exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mailroute.core.model import Route


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class ProviderReceipt:
    """What the provider said when it accepted the message."""

    message_id: str | None = None
    thread_id: str | None = None


class MessageTransport(Protocol):
    """Hands one finished message to a provider. Raises the errors of `core.errors`."""

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt: ...


class SendScheduler(Protocol):
    """Puts an email (back) on its route's queue, now or after a short delay."""

    def schedule_send(self, route: Route, email_id: str, delay_seconds: float = 0.0) -> None: ...


@dataclass(frozen=True)
class StoredEvent:
    """An event written to the outbox in the same statement as the state it reports."""

    outbox_id: int
    routing_key: str
    payload: dict[str, Any]


class OutcomePublisher(Protocol):
    """Publishes stored outcome events; what it cannot publish now the relay publishes later."""

    def publish_stored(self, outbox_ids: list[int]) -> None: ...

    def publish_events(self, events: list[StoredEvent]) -> None: ...
