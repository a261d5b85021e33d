"""Every log line of one email's life carries the same correlation_id.

`POST /v1/emails` takes an optional `X-Correlation-Id` (letters, digits and `._:-`, at most 100
characters) and answers with the id it used: the one given, or one it made. The id is carried
through dispatch and send to the outcome: the `EmailSent` event names it, and every JSON log line
that names the email (`"email_id"`), from the web app and from the workers, names it too.

A malformed `X-Correlation-Id` does not cost the caller its email: the request is accepted with a
new id, answered in the same header (as W3C Trace Context does with a `traceparent` it cannot
parse), so the caller sees which id to look for.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest

from mailroute.config.settings import Settings
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import LOG_DIR, Process, wait_for

HEADER = "X-Correlation-Id"
VALID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
WEB_LOG = "web.log"  # the session's web process (tests/conftest.py `web`) logs here
# The worker's steps whose `message.done` lines must name the email: its routing (an email
# stored at intake is routed by `mailroute.route_email`; one a producer put on the dispatch queue
# itself, by `mailroute.dispatch_email`), then its send through the default sender.
ROUTING_ACTORS = {"mailroute.route_email", "mailroute.dispatch_email"}
SEND_ACTOR = "mailroute.send_via_smtp"


class SentEvents:
    """A producer's own queue bound to `email.sent` on the outcome exchange, read by email id."""

    def __init__(self, channel: Any, queue: str) -> None:
        self._channel = channel
        self._queue = queue
        self._seen: dict[str, list[dict[str, Any]]] = {}

    def of(self, email_id: str) -> list[dict[str, Any]]:
        """Every EmailSent heard so far for `email_id` (an event may come more than once)."""
        while True:
            method, _properties, body = self._channel.basic_get(self._queue, auto_ack=True)
            if method is None:
                break
            event = json.loads(body)
            self._seen.setdefault(str(event.get("email_id")), []).append(event)
        return self._seen.get(email_id, [])


@pytest.fixture
def sent_events(settings: Settings, broker_vhost: str) -> Iterator[SentEvents]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(settings.events_exchange, exchange_type="topic", durable=True)
        queue = f"correlation-outcomes-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, settings.events_exchange, routing_key="email.sent")
        yield SentEvents(channel, queue)
    finally:
        connection.close()


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:  # a line another process is still writing
            continue
        if isinstance(parsed, dict):
            yield parsed


def _lines_naming(email_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every JSON log line of every process of this test run that names `email_id`, by log."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(LOG_DIR.glob("*.log")):
        lines = [line for line in _json_lines(path) if line.get("email_id") == email_id]
        if lines:
            found[path.name] = lines
    return found


@dataclass(frozen=True)
class Life:
    """What one email left behind: the intake's answer, its EmailSent events, its log lines."""

    response: httpx.Response
    email_id: str
    sent: list[dict[str, Any]] = field(repr=False)
    lines: dict[str, list[dict[str, Any]]] = field(repr=False)

    @property
    def correlation_id(self) -> str | None:
        return self.response.headers.get(HEADER)


def _live_one_email(
    api: httpx.Client,
    company: TestCompany,
    worker: Process,
    sent_events: SentEvents,
    extra_headers: dict[str, str],
) -> Life:
    """Request one email, then wait until it is sent, its EmailSent is heard and the worker has
    written the `message.done` lines of its dispatch and its send."""
    response = api.post(
        "/v1/emails",
        json=email_request(company, attachments=[]),
        headers={**company.headers(), **extra_headers},
    )
    assert response.status_code == 202, response.text
    email_id = response.json()["id"]

    sent = wait_for(lambda: sent_events.of(email_id), timeout=30, what=f"EmailSent of {email_id}")
    worker_log = worker.log_path.name

    def all_written() -> dict[str, list[dict[str, Any]]] | None:
        lines = _lines_naming(email_id)
        done = {
            line.get("actor")
            for line in lines.get(worker_log, [])
            if line.get("event") == "message.done"
        }
        routed_and_sent = SEND_ACTOR in done and bool(done & ROUTING_ACTORS)
        return lines if routed_and_sent and lines.get(WEB_LOG) else None

    lines = wait_for(
        all_written,
        timeout=20,
        interval=0.1,
        what=f"the web's line and the worker's message.done lines (routing, {SEND_ACTOR})"
        f" naming {email_id}",
    )
    return Life(response=response, email_id=email_id, sent=sent, lines=lines)


def _assert_carried_everywhere(life: Life, correlation_id: str, worker: Process) -> None:
    assert life.sent, "no EmailSent"
    for event in life.sent:
        assert event.get("correlation_id") == correlation_id, event
    assert life.lines.get(WEB_LOG), "no line from the web app names the email"
    assert life.lines.get(worker.log_path.name), "no line from the worker names the email"
    for log_name, lines in life.lines.items():
        for line in lines:
            assert line.get("correlation_id") == correlation_id, (log_name, line)


def test_a_given_correlation_id_is_echoed_and_carried_through_the_whole_life(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    sent_events: SentEvents,
) -> None:
    given = f"billing.run:2026-11_inv-{uuid.uuid4().hex}"  # every allowed punctuation
    life = _live_one_email(api, company, worker, sent_events, {HEADER: given})

    assert life.correlation_id == given
    _assert_carried_everywhere(life, given, worker)
    assert final_email(api, company, life.email_id)["status"] == "sent"


def test_a_correlation_id_of_exactly_100_characters_is_kept(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    sent_events: SentEvents,
) -> None:
    given = (uuid.uuid4().hex + ".-:" + "9" * 100)[:100]
    assert len(given) == 100
    life = _live_one_email(api, company, worker, sent_events, {HEADER: given})

    assert life.correlation_id == given
    _assert_carried_everywhere(life, given, worker)


def test_without_the_header_a_correlation_id_is_made_echoed_and_carried(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    sent_events: SentEvents,
) -> None:
    life = _live_one_email(api, company, worker, sent_events, {})
    other = _live_one_email(api, company, worker, sent_events, {})

    made = life.correlation_id
    assert made is not None, f"the answer has no {HEADER} header"
    assert VALID.fullmatch(made), made
    assert other.correlation_id != made, "each request gets an id of its own"
    _assert_carried_everywhere(life, made, worker)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("x" * 101, id="101-characters"),
        pytest.param("y" * 200, id="200-characters"),
        pytest.param("invoice 42", id="a-space"),
        pytest.param("invoice/42", id="a-slash"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_correlation_id_is_refused_naming_the_header_and_nothing_is_stored(
    bad: str,
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    sent_events: SentEvents,
) -> None:
    request = email_request(company, attachments=[])
    response = api.post("/v1/emails", json=request, headers={**company.headers(), HEADER: bad})

    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert [(f["field"], f["rule"]) for f in fields] == [(HEADER, "correlation_id")]
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []
