"""Billing services bind a queue to the `mailroute.events` topic exchange and hear each email's
outcome: EmailSent or EmailFailed, versioned JSON naming the email and the original event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pika
import pytest

from mailroute.config.settings import Settings
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, wait_for


@pytest.fixture
def outcome_queue(settings: Settings, broker_vhost: str) -> Iterator[tuple[Any, str]]:
    """A producer's own queue bound to every email outcome."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    channel = connection.channel()
    channel.exchange_declare(settings.events_exchange, exchange_type="topic", durable=True)
    queue = f"billing-outcomes-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, exclusive=True)
    channel.queue_bind(queue, settings.events_exchange, routing_key="email.*")
    try:
        yield channel, queue
    finally:
        connection.close()


def _events(channel: Any, queue: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return found
        found.append((method.routing_key, json.loads(body)))


def test_sent_and_failed_outcomes_are_published_to_the_topic_exchange(
    outcome_queue: tuple[Any, str],
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
) -> None:
    channel, queue = outcome_queue
    sent = api.post("/v1/emails", json=email_request(company), headers=company.headers()).json()
    final_email(api, company, sent["id"])
    sandbox.smtp_fail_next(1, 550, "5.1.1 no such mailbox")
    failing = email_request(company, event_id=f"evt-fails-{uuid.uuid4()}")
    failed = api.post("/v1/emails", json=failing, headers=company.headers()).json()

    seen: list[tuple[str, dict[str, Any]]] = []

    def both() -> bool:
        seen.extend(_events(channel, queue))
        return {p["email_id"] for _, p in seen} >= {sent["id"], failed["id"]}

    wait_for(both, timeout=20, what="both outcome events")
    by_email = {p["email_id"]: (key, p) for key, p in seen}
    key, event = by_email[sent["id"]]
    assert key == "email.sent"
    assert event["type"] == "EmailSent"
    assert event["schema_version"] == 1
    assert event["event_id"] == sent["event_id"]
    assert event["company_id"] == company.id
    assert event["route"] == "default"
    assert event["possible_duplicate"] is False
    key, event = by_email[failed["id"]]
    assert key == "email.failed"
    assert event["type"] == "EmailFailed"
    assert event["error_code"] == "smtp_rejected"
    assert "no such mailbox" in event["error_message"]
