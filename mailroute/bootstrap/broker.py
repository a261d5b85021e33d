"""The dramatiq broker of each kind of process, from RABBITMQ_URL (one node or several) and
RABBITMQ_QUEUE_TYPE.

Web, clock, CLI and Python producers declare every queue of ours as they start, so a queue
that exists with other arguments (a classic queue of an earlier release, with
RABBITMQ_QUEUE_TYPE=quorum) stops them there with a message naming the setting and the way
out, rather than at the first email. A broker that cannot be reached does not stop them: the
web keeps accepting into the outbox. Worker processes check the same as they boot
(`DeclareQueuesAtBoot`), for every queue their actors use."""

from __future__ import annotations

from typing import cast

import structlog
from dramatiq.middleware import Middleware

from mailroute.adapters.rabbitmq.broker import MailrouteBroker, build_broker
from mailroute.adapters.rabbitmq.queue_types import QueueType, QueueTypeMismatchError
from mailroute.config.settings import Settings
from mailroute.events import queues

log = structlog.get_logger(__name__)


def queue_type(settings: Settings) -> QueueType:
    return cast(QueueType, settings.rabbitmq_queue_type)


def rabbitmq_broker(settings: Settings) -> MailrouteBroker:
    """The broker of a web, clock, CLI or producer process: it fails fast, and its queues are
    declared (checked) now when RabbitMQ answers."""
    broker = build_broker(settings.rabbitmq_url, worker=False, queue_type=queue_type(settings))
    try:
        broker.declare_now(queues.ALL_QUEUES)
    except QueueTypeMismatchError as exc:
        log.critical("rabbitmq.queue_type_mismatch", error=str(exc))
        broker.close()
        raise
    return broker


def worker_broker(settings: Settings, extra: list[Middleware]) -> MailrouteBroker:
    """The broker of a worker process: it rides out a broker restart."""
    return build_broker(
        settings.rabbitmq_url, worker=True, extra=extra, queue_type=queue_type(settings)
    )
