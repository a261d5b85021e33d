"""Publishing from Python: `from mailroute.producer import publish`.

    from mailroute.events import EmailRequested
    from mailroute.producer import publish

    accepted = publish(
        EmailRequested(event_id=..., company_id=..., to=[...], subject=..., text=...)
    )
    accepted.email_id   # poll GET /v1/emails/{id}, or bind to the outcome events

An event whose JSON is at most `PUBLISH_INLINE_BYTES` (128 KiB) is published inline on the
`dispatch` queue with publisher confirms. A larger one (big attachments) is stored in
PostgreSQL first and only its id is published — accepted like `POST /v1/emails`, even while
RabbitMQ is down. No message carries more than that limit.

`publish` raises `InvalidEventError` (naming each field and rule), `UnknownCompanyRequestError`,
or `BrokerUnavailableError` when RabbitMQ cannot confirm an inline publish (nothing was
accepted; `QueueTypeMismatchError`, one of them, when RabbitMQ's queues are not of the type
RABBITMQ_QUEUE_TYPE names). `publish_many` takes a list of events: all validated first, then
published up to 100 to a message. Settings come from the environment; RABBITMQ_URL may list the
nodes of a cluster: the first that answers takes the publish, another one after it went away.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mailroute.events import EmailRequested
from mailroute.services.batch_intake import PartlyPublishedError
from mailroute.services.intake import PUBLISH_INLINE_BYTES, Accepted, Intake

__all__ = [
    "PUBLISH_INLINE_BYTES",
    "Accepted",
    "PartlyPublishedError",
    "default_intake",
    "publish",
    "publish_many",
]

_lock = threading.Lock()
_intake: Intake | None = None


def default_intake() -> Intake:
    global _intake
    with _lock:
        if _intake is None:
            from mailroute.bootstrap import build_producer
            from mailroute.config.settings import Settings

            _intake = build_producer(Settings.from_env()).intake
        return _intake


def publish(event: EmailRequested | Mapping[str, Any]) -> Accepted:
    """Validate and publish one EmailRequested; see the module docstring."""
    return default_intake().publish(event)


def publish_many(events: Sequence[EmailRequested | Mapping[str, Any]]) -> list[Accepted]:
    """Validate every event, then publish them in as few confirmed messages as the limits allow
    (up to 100 events a message): many times `publish`'s rate for a month-end run. Nothing is
    published when any event is refused (`InvalidEventError` names `[index].field`)."""
    return default_intake().publish_many(events)
