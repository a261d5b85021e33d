"""A producer in another language: the Node.js example (examples/node-producer) publishes an
EmailRequested on RabbitMQ exactly as the README says, hears its EmailSent on its own queue, and
refuses an invalid event before anything is published."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pika
import pytest
from jsonschema import Draft202012Validator

from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.events import queues
from tests.conftest import (
    TEST_VHOST,
    SandboxClient,
    TestCompany,
    _delete_vhost,
    _ensure_vhost,
    final_email,
    queue_depth,
)
from tests.settled import settled
from tests.stack import Process, wait_for

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "node-producer"


def _installed_producer() -> str:
    """The `node` to run the example with, once its packages are installed from the lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm are needed for examples/node-producer; scripts/test.sh installs them"
            " (apt-get install nodejs npm)"
        )
    installed = EXAMPLE / "node_modules" / ".package-lock.json"
    lock = EXAMPLE / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--quiet"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node


def _produce(
    rabbitmq_url: str, settings: Settings, *args: str, timeout: int = 30
) -> subprocess.CompletedProcess[str]:
    node = _installed_producer()
    env = {**os.environ, "RABBITMQ_URL": rabbitmq_url, "EVENTS_EXCHANGE": settings.events_exchange}
    return subprocess.run(
        [node, "producer.js", *args, "--timeout", str(timeout)],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )


def _schema(name: str) -> Draft202012Validator:
    path = ROOT / "schemas" / "events" / f"{name}.v1.json"
    schema = json.loads(path.read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def lone_vhost(settings: Settings) -> Iterator[str]:
    """The URL of a vhost of its own, where no worker runs: whatever is published there stays."""
    name = f"{TEST_VHOST}_node_{uuid.uuid4().hex[:8]}"
    _ensure_vhost(name)
    try:
        yield urlunsplit(urlsplit(settings.rabbitmq_url)._replace(path=f"/{name}"))
    finally:
        _delete_vhost(name)


def _declare_dispatch_queue(rabbitmq_url: str) -> None:
    """A dispatch queue no worker drains (classic, as `RABBITMQ_QUEUE_TYPE=classic` declares it:
    the queue's type does not matter to a producer, which publishes to the default exchange)."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dispatch.XQ"}
        connection.channel().queue_declare(queues.DISPATCH, durable=True, arguments=arguments)
    finally:
        connection.close()


def test_a_node_producer_publishes_an_email_requested_and_hears_that_it_was_sent(
    settings: Settings,
    company: TestCompany,
    worker: Process,
    api: httpx.Client,
    sandbox: SandboxClient,
    database: Pool,
    broker_vhost: str,
) -> None:
    event_id = f"invoice-2026-0042-{uuid.uuid4()}"
    done = _produce(
        settings.rabbitmq_url,
        settings,
        *("--company-id", company.id, "--event-id", event_id),
        *("--to", f"Jane Client <{company.rcpt()}>", "--subject", "Invoice 2026-0042 from Acme"),
        *("--text", "Hello Jane,\nplease find invoice 2026-0042 below.\n"),
        *("--correlation-id", f"billing-{company.tag}"),
    )

    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    event: dict[str, Any] = json.loads(line)
    _schema("EmailSent").validate(event)
    assert event["type"] == "EmailSent"
    assert event["event_id"] == event_id
    assert event["company_id"] == company.id
    assert event["route"] == "default"
    assert event["correlation_id"] == f"billing-{company.tag}"
    assert datetime.fromisoformat(event["sent_at"]).tzinfo is not None  # format: date-time

    final = final_email(api, company, event["email_id"])
    assert final["status"] == "sent"
    assert final["event_id"] == event_id
    assert final["message_id"] == event["message_id"]
    wait_for(
        lambda: settled(database, broker_vhost, email_id=event["email_id"]),
        timeout=20,
        what="nothing left to do for the email",
    )
    [message] = sandbox.smtp_messages(rcpt=company.rcpt())
    assert message["rcpt_tos"] == [company.rcpt()]
    assert message["headers"]["To"] == f"Jane Client <{company.rcpt()}>"
    assert message["subject"] == "Invoice 2026-0042 from Acme"
    assert "please find invoice 2026-0042 below" in message["text"]


@pytest.mark.parametrize(
    ("field", "problem", "arguments"),
    [
        ("event_id", "must NOT have more than 200 characters", ["--event-id", "x" * 201]),
        ("to", "must have required property 'to'", ["--event-id", "no-recipient"]),
    ],
)
def test_a_node_producer_refuses_an_invalid_event_before_publishing_anything(
    field: str,
    problem: str,
    arguments: list[str],
    settings: Settings,
    company: TestCompany,
    lone_vhost: str,
) -> None:
    _declare_dispatch_queue(lone_vhost)  # no worker drains it: a published message would stay
    recipient = ["--to", company.rcpt()] if field != "to" else []
    done = _produce(
        lone_vhost,
        settings,
        *("--company-id", company.id, *arguments, *recipient),
        *("--subject", "Invoice 2026-0042", "--text", "Hello"),
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert "refused: the EmailRequested is invalid" in done.stderr
    assert f"{field}: {problem}" in done.stderr
    assert queue_depth(lone_vhost, queues.DISPATCH) == 0


def test_a_node_producer_fails_when_no_dispatch_queue_takes_its_message(
    settings: Settings, company: TestCompany, lone_vhost: str
) -> None:
    done = _produce(
        lone_vhost,
        settings,
        *("--company-id", company.id, "--event-id", f"evt-{uuid.uuid4()}"),
        *("--to", company.rcpt(), "--subject", "Invoice 2026-0042", "--text", "Hello"),
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert "the broker returned the message (312 NO_ROUTE)" in done.stderr
