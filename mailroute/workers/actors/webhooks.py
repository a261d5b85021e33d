"""Queue `webhooks`: deliver outcome webhooks, one attempt per message, and tell a company's
admins, once, that an endpoint was disabled."""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog

from mailroute.events import queues
from mailroute.services import webhook_delivery
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.webhook_dependencies import webhook_deps

OPTIONS: dict[str, Any] = {
    "queue_name": queues.WEBHOOKS,
    "retry_when": transient_only,
    "throws": NEVER_RETRIED,
    "max_backoff": 60_000,
    "min_backoff": 1_000,
}


def _log_as(**ids: str) -> None:
    """The log context names what the message is about (the middleware takes a first string
    argument for an email id)."""
    structlog.contextvars.unbind_contextvars("email_id")
    structlog.contextvars.bind_contextvars(**{k: str(v)[:64] for k, v in ids.items()})


@dramatiq.actor(actor_name=queues.DELIVER_WEBHOOK, **OPTIONS)
def deliver_webhook(delivery_id: str) -> None:
    """One attempt at one delivery, when it is due (a duplicate message finds nothing to do)."""
    _log_as(delivery_id=delivery_id)
    webhook_delivery.deliver(delivery_id, webhook_deps())


@dramatiq.actor(actor_name=queues.NOTIFY_WEBHOOK_DISABLED, **OPTIONS)
def notify_webhook_disabled(endpoint_id: str, generation: int) -> None:
    """Tell the company's admins that the endpoint was disabled, unless they were told."""
    _log_as(endpoint_id=endpoint_id)
    webhook_delivery.notify_disabled(endpoint_id, generation, webhook_deps())
