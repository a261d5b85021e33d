"""Every queue mailroute's broker declares is a quorum queue by default, whatever its name, with
the delivery limits that keep dramatiq's delays and `mailroute dlq` safe; `classic` declares
exactly what dramatiq declares; a queue of other arguments is refused with a message naming the
setting. No connection is opened: declarations are read off a recording channel."""

from __future__ import annotations

from typing import Any

import pika.exceptions
import pytest
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker

from mailroute.adapters.rabbitmq import queue_types
from mailroute.adapters.rabbitmq.broker import MailrouteBroker
from mailroute.adapters.rabbitmq.queue_types import (
    NO_REDELIVERY_LIMIT,
    REDELIVERY_LIMIT,
    QueueTypeMismatchError,
    declare_dramatiq_queue,
)
from mailroute.core.errors import BrokerUnavailableError


class RecordingChannel:
    """Records each queue_declare; refuses the names in `refuse` as RabbitMQ would."""

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.declared: dict[str, dict[str, Any]] = {}
        self.refuse = refuse or {}

    def queue_declare(self, *, queue: str, durable: bool, arguments: dict[str, Any]) -> None:
        assert durable
        if queue in self.refuse:
            raise pika.exceptions.ChannelClosedByBroker(406, self.refuse[queue])
        self.declared[queue] = arguments


def _declared(queue: str, queue_type: str) -> dict[str, dict[str, Any]]:
    channel = RecordingChannel()
    declare_dramatiq_queue(channel, queue, queue_type)
    return channel.declared


@pytest.mark.parametrize(
    "queue", ["dispatch", "gmail", "smtp", "notify", "webhooks", "added_later"]
)
def test_any_queue_and_its_delay_and_dead_letter_queues_are_quorum_queues(queue: str) -> None:
    declared = _declared(queue, "quorum")

    assert set(declared) == {queue, f"{queue}.DQ", f"{queue}.XQ"}
    assert {args["x-queue-type"] for args in declared.values()} == {"quorum"}
    for name in (queue, f"{queue}.DQ"):
        assert declared[name]["x-dead-letter-exchange"] == ""
        assert declared[name]["x-dead-letter-routing-key"] == f"{queue}.XQ"
        assert declared[name]["x-dead-letter-strategy"] == "at-least-once"
        assert declared[name]["x-overflow"] == "reject-publish"  # at-least-once needs it
    assert declared[f"{queue}.XQ"]["x-message-ttl"] == DEAD_MESSAGE_TTL
    assert not any("x-max-priority" in args for args in declared.values())


def test_only_the_work_queue_dead_letters_a_message_redelivered_too_often() -> None:
    declared = _declared("gmail", "quorum")

    assert declared["gmail"]["x-delivery-limit"] == REDELIVERY_LIMIT
    # Delayed messages come back at every worker restart, dead ones at every `dlq list`: a
    # limit there would drop them. Never -1 (3.x reads it as 0) and never absent (4.x: 20).
    assert declared["gmail.DQ"]["x-delivery-limit"] == NO_REDELIVERY_LIMIT
    assert declared["gmail.XQ"]["x-delivery-limit"] == NO_REDELIVERY_LIMIT
    assert 0 < REDELIVERY_LIMIT < 50 < NO_REDELIVERY_LIMIT < 2**31


def test_classic_declares_exactly_what_dramatiq_declares() -> None:
    dramatiq_broker = RabbitmqBroker(url="amqp://guest:guest@127.0.0.1:1/%2F")
    dramatiq_args = dramatiq_broker._build_queue_arguments("gmail")  # type: ignore[no-untyped-call]

    declared = _declared("gmail", "classic")

    assert declared == {
        "gmail": dramatiq_args,
        "gmail.DQ": dramatiq_args,
        "gmail.XQ": {"x-message-ttl": DEAD_MESSAGE_TTL},
    }


def test_an_existing_queue_of_other_arguments_is_refused_naming_the_setting_and_the_way_out() -> (
    None
):
    refusal = (
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'gmail' in vhost"
        " 'prod': received the value 'quorum' of type 'longstr' but current is none"
    )
    channel = RecordingChannel(refuse={"gmail": refusal})

    with pytest.raises(QueueTypeMismatchError) as refused:
        declare_dramatiq_queue(channel, "gmail", "quorum")

    said = str(refused.value)
    assert "'gmail'" in said
    assert "RABBITMQ_QUEUE_TYPE=classic" in said  # keep the classic queues
    assert "README" in said  # or move them
    assert refusal in said
    # The outbox keeps what it holds, as while the broker is down: nothing is refused.
    assert isinstance(refused.value, BrokerUnavailableError)


def test_other_refusals_are_not_taken_for_a_queue_type_mismatch() -> None:
    access = pika.exceptions.ChannelClosedByBroker(403, "ACCESS_REFUSED - no access")
    assert queue_types.mismatch(access, "gmail", "quorum") is None
    channel = RecordingChannel(refuse={"gmail": "PRECONDITION_FAILED - something else"})
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        declare_dramatiq_queue(channel, "gmail", "quorum")


def test_the_broker_refuses_what_quorum_queues_cannot_do() -> None:
    with pytest.raises(ValueError, match="x-max-priority"):
        MailrouteBroker(url="amqp://127.0.0.1:1/%2F", max_priority=5)
    with pytest.raises(ValueError, match="queue_type"):
        MailrouteBroker(url="amqp://127.0.0.1:1/%2F", queue_type="stream")  # type: ignore[arg-type]
    assert MailrouteBroker(url="amqp://127.0.0.1:1/%2F").queue_type == "quorum"
