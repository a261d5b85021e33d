"""How mailroute's queues are declared: every queue dramatiq uses, `<q>` with its delay queue
`<q>.DQ` and its dead-letter queue `<q>.XQ`, whatever its name, as a quorum queue
(`RABBITMQ_QUEUE_TYPE=quorum`, the default: replicated, so a cluster that loses a node loses
none of them) or as dramatiq declares them by default (`classic`: one replica, kept for the
deployments that already have them, since a queue's type never changes once declared).

Quorum queues, as declared here:

- `<q>` and `<q>.DQ` dead-letter to `<q>.XQ` (dramatiq's routing), at least once: RabbitMQ keeps
  a dead message until `<q>.XQ` has confirmed it (`x-dead-letter-strategy` needs
  `x-overflow: reject-publish`; there is no length limit to reach).
- `<q>` has `x-delivery-limit` `REDELIVERY_LIMIT`: a message returned unacknowledged more often
  than that (each worker that took it died, or lost its connection, before acknowledging it: a
  message that kills its worker) is dead-lettered to `<q>.XQ` instead of killing workers for
  ever. dramatiq's retries never count: a retry is a new message. mailroute's workers fail such
  a message themselves on its last delivery (`RedeliveryLimit`), with a reason and its email
  ended; the broker's limit is the backstop.
- `<q>.DQ` and `<q>.XQ` are returned by design (every worker restart returns the delayed
  messages its consumer held; `mailroute dlq list` returns what it looked at), so their limit
  is `NO_REDELIVERY_LIMIT`: never reached. Not -1: RabbitMQ 4 reads -1 as "no limit" but 3.x
  reads it as 0 and drops a message at its first return; and no argument at all means 20 on
  RabbitMQ 4. The same arguments on 3.10 through 4.x, so an upgrade never makes them differ.
- `<q>.XQ` keeps a dead message dramatiq's 7 days (`x-message-ttl`, supported by quorum queues
  since 3.10), then drops it.
- No `x-max-priority` (quorum queues refuse it; dramatiq only sets it when asked).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL
from dramatiq.common import dq_name, xq_name

from mailroute.core.errors import BrokerUnavailableError

QueueType = Literal["quorum", "classic"]
QUEUE_TYPES: Final = ("quorum", "classic")
REDELIVERY_LIMIT: Final = 10
NO_REDELIVERY_LIMIT: Final = 1_000_000
MIGRATION = "README, RabbitMQ: Moving from classic to quorum queues"


def _dead_lettering(queue: str, queue_type: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": xq_name(queue),
    }
    if queue_type == "quorum":
        arguments.update(
            {
                "x-queue-type": "quorum",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        )
    return arguments


def work_queue_arguments(queue: str, queue_type: str) -> dict[str, Any]:
    arguments = _dead_lettering(queue, queue_type)
    if queue_type == "quorum":
        arguments["x-delivery-limit"] = REDELIVERY_LIMIT
    return arguments


def delay_queue_arguments(queue: str, queue_type: str) -> dict[str, Any]:
    arguments = _dead_lettering(queue, queue_type)
    if queue_type == "quorum":
        arguments["x-delivery-limit"] = NO_REDELIVERY_LIMIT
    return arguments


def dead_queue_arguments(queue_type: str) -> dict[str, Any]:
    # A static TTL: RabbitMQ expires messages head first.
    arguments: dict[str, Any] = {"x-message-ttl": DEAD_MESSAGE_TTL}
    if queue_type == "quorum":
        arguments.update({"x-queue-type": "quorum", "x-delivery-limit": NO_REDELIVERY_LIMIT})
    return arguments


class QueueTypeMismatchError(BrokerUnavailableError):
    """A queue exists with other arguments than RABBITMQ_QUEUE_TYPE asks for (most often: a
    classic queue of an earlier release). Nothing can be published to it or consumed from it
    until that is settled; what waits in the outbox stays there until then."""


def mismatch(exc: Exception, queue: str, queue_type: str) -> QueueTypeMismatchError | None:
    """The error to raise when RabbitMQ refused a declaration because the queue exists with
    other arguments (406 PRECONDITION_FAILED "inequivalent arg"); None for any other error."""
    if not isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        return None
    if exc.reply_code != 406 or "inequivalent arg" not in str(exc.reply_text):
        return None
    other = "classic" if queue_type == "quorum" else "quorum"
    return QueueTypeMismatchError(
        f"RabbitMQ queue {queue!r} already exists with other arguments than"
        f" RABBITMQ_QUEUE_TYPE={queue_type} declares ({exc.reply_text}): most likely it is a"
        f" {other} queue. Set RABBITMQ_QUEUE_TYPE={other} to keep using the existing queues,"
        f" or move them to {queue_type} queues ({MIGRATION})."
    )


def declare(channel: Any, name: str, arguments: dict[str, Any], queue_type: str) -> Any:
    """`queue_declare(name, durable=True, arguments)`; the refusal of an existing queue of other
    arguments raised as `QueueTypeMismatchError`."""
    try:
        return channel.queue_declare(queue=name, durable=True, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as exc:
        found = mismatch(exc, name, queue_type)
        if found is None:
            raise
        raise found from exc


def declare_dramatiq_queue(channel: Any, queue: str, queue_type: str) -> None:
    """Declare `queue` with its delay and dead-letter companions exactly as mailroute's broker
    does, so a task published before any worker started is routed, not dropped."""
    declare(channel, queue, work_queue_arguments(queue, queue_type), queue_type)
    declare(channel, dq_name(queue), delay_queue_arguments(queue, queue_type), queue_type)
    declare(channel, xq_name(queue), dead_queue_arguments(queue_type), queue_type)
