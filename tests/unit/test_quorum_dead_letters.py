"""A message whose workers keep dying with it ends as a recorded dead letter: the worker fails it
on its last delivery with a reason, and when RabbitMQ dead-lettered it by itself, its x-death
header gives `mailroute dlq list` the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import SkipMessage

from mailroute.adapters.rabbitmq.dead_letters import broker_reason
from mailroute.adapters.rabbitmq.middleware import DeadLetterRecorder, RedeliveryLimit
from mailroute.adapters.rabbitmq.queue_types import REDELIVERY_LIMIT
from mailroute.core.abandoned import DeadLetter, dead_lettered, email_of
from mailroute.events import queues

EMAIL_ID = "3f2c1d7e-8b9a-4c5d-9e0f-1a2b3c4d5e6f"


def _delivery(count: int | None) -> MessageProxy:
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.SMTP,
        actor_name=queues.SEND_VIA_SMTP,
        args=(EMAIL_ID,),
        kwargs={},
        options={"correlation_id": "corr-1"},
    )
    proxy = MessageProxy(message)
    if count is not None:
        proxy.delivery_count = count  # type: ignore[attr-defined]  # as _CountingConsumer sets it
    return proxy


@pytest.mark.parametrize("count", [None, 0, 1, REDELIVERY_LIMIT - 1])
def test_a_message_delivered_again_a_few_times_runs(count: int | None) -> None:
    delivery = _delivery(count)
    RedeliveryLimit(REDELIVERY_LIMIT).before_process_message(StubBroker(), delivery)
    assert not delivery.failed


def test_the_last_delivery_the_broker_allows_fails_recorded_and_its_email_ends() -> None:
    broker = StubBroker()
    recorded: list[DeadLetter] = []
    delivery = _delivery(REDELIVERY_LIMIT)

    with pytest.raises(SkipMessage):
        RedeliveryLimit(REDELIVERY_LIMIT).before_process_message(broker, delivery)
    DeadLetterRecorder(recorded.append).after_skip_message(broker, delivery)

    assert delivery.failed  # nacked: RabbitMQ dead-letters it to smtp.XQ
    [dead] = recorded
    assert dead.message_id == delivery.message_id
    assert dead.reason.startswith("RedeliveredTooOften: delivered 11 times and never acknowledged")
    assert "may be what kills them" in dead.reason
    found = email_of(dead)
    assert found is not None
    assert found.email_id == EMAIL_ID  # ended `dead_lettered`, with the reason for its sender
    code, message = dead_lettered(dead, EMAIL_ID)
    assert code == "dead_lettered"
    assert "RedeliveredTooOften" in message


def test_a_dead_letter_rabbitmq_made_by_itself_says_why_from_its_x_death_header() -> None:
    headers = {
        "x-death": [
            {
                "count": 1,
                "reason": b"delivery_limit",
                "queue": b"gmail",
                "time": datetime(2026, 12, 1, tzinfo=UTC),
                "exchange": b"",
                "routing-keys": [b"gmail"],
            }
        ],
        "x-first-death-reason": b"delivery_limit",
    }

    reason = broker_reason(headers)

    assert reason is not None
    assert reason.startswith("RabbitMQ dead-lettered it from gmail: its delivery limit")
    assert "never acknowledged" in reason


def test_a_message_dramatiq_rejected_has_its_reason_recorded_by_the_worker_not_the_header() -> None:
    rejected = {"x-death": [{"count": 1, "reason": "rejected", "queue": "gmail"}]}
    assert broker_reason(rejected) is None
    assert broker_reason(None) is None
    assert broker_reason({}) is None
    expired = {"x-death": [{"reason": "expired", "queue": "gmail.DQ"}]}
    assert broker_reason(expired) == "RabbitMQ dead-lettered it from gmail.DQ: expired"
