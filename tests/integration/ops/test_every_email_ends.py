"""Every accepted email ends `sent` or `failed` with a reason, through the real pipeline: an
email whose message cannot be built, and an email whose queue message dies (at its first
error, or after its retries), each ends `failed` with the reason in `GET /v1/emails/{id}` and an
`EmailFailed` on the topic exchange; replaying the dead message then sends it.

Faults are injected where they happen in production: data stored before a rule refused it,
and PostgreSQL refusing a statement (a trigger on `emails` raising, for one email only).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import httpx
import pika
import pytest
from psycopg import sql

from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.bootstrap import build_producer
from mailroute.config.settings import Settings
from mailroute.core.mime import email_id_for, from_header, message_id_for
from mailroute.events import EmailRequested, queues
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import MAILROUTE, Process, wait_for

# Retry at once (message options override the actor's backoff): ten retries in moments.
QUICK_RETRIES = {"min_backoff": 1, "max_backoff": 5}


class PostgresRefuses:
    """PostgreSQL refuses every write to `emails` that `when` (over NEW and TG_OP) matches,
    with SQLSTATE `errcode`, until `lift()`; its error says `token`, which finds the message
    it killed."""

    def __init__(self, database: Pool, when: str, *, errcode: str) -> None:
        self.database = database
        self.token = f"refused-by-test-{uuid.uuid4().hex[:10]}"
        self._name = sql.Identifier(self.token.replace("-", "_"))
        body = (
            f"BEGIN IF {when} THEN RAISE EXCEPTION '{self.token}' USING ERRCODE = '{errcode}';"
            " END IF; RETURN NEW; END"
        )
        with database.connection() as conn:
            conn.execute(
                sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
                    self._name, sql.Literal(body)
                )
            )
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON emails FOR EACH ROW"
                    " EXECUTE FUNCTION {}()"
                ).format(self._name, self._name)
            )

    def lift(self) -> None:
        with self.database.connection() as conn:
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON emails").format(self._name))
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(self._name))

    def __enter__(self) -> PostgresRefuses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lift()


@pytest.fixture
def outcomes(settings: Settings, broker_vhost: str) -> Iterator[Any]:
    """A producer's queue bound to every email outcome; call it for the events so far."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    channel = connection.channel()
    channel.exchange_declare(settings.events_exchange, exchange_type="topic", durable=True)
    queue = f"outcomes-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, exclusive=True)
    channel.queue_bind(queue, settings.events_exchange, routing_key="email.*")
    seen: list[tuple[str, dict[str, Any]]] = []

    def events() -> list[tuple[str, dict[str, Any]]]:
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return seen
            seen.append((method.routing_key, json.loads(body)))

    try:
        yield events
    finally:
        connection.close()


def _failed_event(outcomes: Any, email_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next(
            (e for key, e in outcomes() if key == "email.failed" and e["email_id"] == email_id),
            None,
        )

    event: Any = wait_for(found, timeout=20, what=f"EmailFailed for {email_id}")
    return event


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _dead_message(database: Pool, token: str) -> str:
    """The id of the dead message whose recorded reason is the refusal saying `token`."""

    def recorded() -> str | None:
        with database.connection() as conn:
            row = conn.execute(
                "SELECT message_id FROM dead_letters WHERE reason LIKE %s", (f"%{token}%",)
            ).fetchone()
        return str(row["message_id"]) if row else None

    message_id: Any = wait_for(recorded, timeout=20, what="the dead message's reason")
    return message_id


def _ends_failed_then_replays_to_sent(
    *,
    api: httpx.Client,
    company: TestCompany,
    email_id: str,
    refusal: PostgresRefuses,
    step: str,
    attempts: str,
    outcomes: Any,
    database: Pool,
    stack_env: dict[str, str],
    sandbox: SandboxClient,
) -> None:
    token = refusal.token
    body = final_email(api, company, email_id)
    assert (body["status"], body["error"]["code"]) == ("failed", "dead_lettered"), body
    said = body["error"]["message"]
    assert f"while {step}, {attempts}" in said
    assert token in said
    assert f"POST /v1/emails/{email_id}/retry" in said
    event = _failed_event(outcomes, email_id)
    assert (event["error_code"], event["error_message"]) == ("dead_lettered", said)
    message_id = _dead_message(database, token)
    listed = [json.loads(line) for line in _cli(stack_env, "dlq", "list").stdout.splitlines()]
    [dead] = [row for row in listed if row["message_id"] == message_id]
    assert token in dead["reason"]
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []

    refusal.lift()  # PostgreSQL takes the email again
    replayed = _cli(stack_env, "dlq", "replay", "--id", message_id)
    assert replayed.returncode == 0, replayed.stderr
    body = final_email(api, company, email_id)
    assert (body["status"], body["error"]) == ("sent", None), body
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_an_email_whose_message_cannot_be_built_ends_failed_with_internal_error(
    api: httpx.Client,
    company: TestCompany,
    database: Pool,
    broker: Any,
    worker: Process,
    sandbox: SandboxClient,
    settings: Settings,
    outcomes: Any,
) -> None:
    # Stored before intake refused line breaks in a content type (as an earlier release could).
    request = EmailRequested.parse({**email_request(company), "company_id": company.id})
    attachment = request.attachments[0].model_copy(
        update={"content_type": "application/pdf\r\nBcc: everyone@example.com"}
    )
    stored = request.model_copy(update={"attachments": [attachment]})
    email_id = email_id_for(company.id, request.event_id)
    from_address = from_header(company.name, settings.default_from)
    PostgresEmails(database).store(
        stored,
        correlation_id="order-unbuildable",
        route="default",
        from_address=from_address,
        message_id=message_id_for(email_id, from_address),
        routed=True,
    )

    DramatiqQueues(broker).schedule_send("default", email_id, correlation_id="order-unbuildable")

    body = final_email(api, company, email_id)
    assert (body["status"], body["error"]["code"], body["attempts"]) == (
        "failed",
        "internal_error",
        1,
    )
    assert "HeaderParseError" in body["error"]["message"]
    assert "nothing was sent" in body["error"]["message"]
    assert _failed_event(outcomes, email_id)["correlation_id"] == "order-unbuildable"
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []


def test_an_email_whose_routing_dies_ends_failed_and_its_replay_sends_it(
    api: httpx.Client,
    company: TestCompany,
    database: Pool,
    worker: Process,
    sandbox: SandboxClient,
    stack_env: dict[str, str],
    outcomes: Any,
) -> None:
    request = email_request(company)
    email_id = email_id_for(company.id, request["event_id"])
    with PostgresRefuses(
        database,
        f"TG_OP = 'UPDATE' AND NEW.id = '{email_id}' AND NEW.status = 'queued'",
        errcode="22023",  # a data exception: never retried, dead at once
    ) as refusal:
        accepted = api.post("/v1/emails", json=request, headers=company.headers())
        assert accepted.status_code == 202, accepted.text
        _ends_failed_then_replays_to_sent(
            api=api,
            company=company,
            email_id=email_id,
            refusal=refusal,
            step="routing it",
            attempts="at its first attempt",
            outcomes=outcomes,
            database=database,
            stack_env=stack_env,
            sandbox=sandbox,
        )


def test_a_send_that_keeps_dying_ends_failed_after_its_retries_and_its_replay_sends_it(
    api: httpx.Client,
    company: TestCompany,
    database: Pool,
    broker: Any,
    worker: Process,
    sandbox: SandboxClient,
    settings: Settings,
    stack_env: dict[str, str],
    outcomes: Any,
) -> None:
    request = EmailRequested.parse({**email_request(company), "company_id": company.id})
    email_id = email_id_for(company.id, request.event_id)
    from_address = from_header(company.name, settings.default_from)
    PostgresEmails(database).store(
        request,
        correlation_id="order-dies",
        route="default",
        from_address=from_address,
        message_id=message_id_for(email_id, from_address),
        routed=True,
    )
    with PostgresRefuses(
        database,
        f"TG_OP = 'UPDATE' AND NEW.id = '{email_id}' AND NEW.status = 'sending'",
        errcode="P0001",  # an unexpected error: retried, then dead
    ) as refusal:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queues.SMTP,
            actor_name=queues.SEND_VIA_SMTP,
            args=(email_id,),
            kwargs={},
            options={"correlation_id": "order-dies", **QUICK_RETRIES},
        )
        broker.enqueue(message)
        _ends_failed_then_replays_to_sent(
            api=api,
            company=company,
            email_id=email_id,
            refusal=refusal,
            step="sending it through the default sender",
            attempts="after 11 attempts",
            outcomes=outcomes,
            database=database,
            stack_env=stack_env,
            sandbox=sandbox,
        )


def test_an_inline_request_whose_dispatch_dies_is_known_failed_and_its_replay_sends_it(
    api: httpx.Client,
    company: TestCompany,
    database: Pool,
    worker: Process,
    sandbox: SandboxClient,
    settings: Settings,
    stack_env: dict[str, str],
    outcomes: Any,
) -> None:
    """Python's `publish` puts a small request on the dispatch queue itself: no row exists
    until the dispatcher stores it. When that dies, the request is stored failed, so GET
    answers for the id `publish` returned."""
    request = {**email_request(company), "company_id": company.id}
    producer = build_producer(settings)
    try:
        with PostgresRefuses(
            database,
            f"TG_OP = 'INSERT' AND NEW.event_id = '{request['event_id']}'"
            " AND NEW.status <> 'failed'",
            errcode="22023",
        ) as refusal:
            accepted = producer.intake.publish(request)
            _ends_failed_then_replays_to_sent(
                api=api,
                company=company,
                email_id=accepted.email_id,
                refusal=refusal,
                step="taking it from the dispatch queue",
                attempts="at its first attempt",
                outcomes=outcomes,
                database=database,
                stack_env=stack_env,
                sandbox=sandbox,
            )
    finally:
        producer.close()
