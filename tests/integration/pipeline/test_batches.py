"""Many emails a message, on the real broker, database and SMTP sink: `publish_many` from Python
and a raw batch on the dispatch queue end every email as one message each would — each sent
once with its own content, a refused one failed alone, an unreadable event recorded alone."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.core.mime import email_id_for
from mailroute.events import queues
from mailroute.services.intake import Intake
from tests.conftest import PDF, SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, wait_for


@pytest.fixture
def intake(database: Any, broker_vhost: str, settings: Any) -> Iterator[Intake]:
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    yield producer.intake
    producer.close()


def _events(company: TestCompany, count: int) -> list[dict[str, Any]]:
    return [
        email_request(company, company_id=company.id, subject=f"Invoice {n}", event_id=f"inv-{n}")
        for n in range(count)
    ]


def _statuses(database: Pool, email_ids: list[str]) -> dict[str, int]:
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM emails WHERE id = ANY(%s::uuid[]) GROUP BY status",
            (email_ids,),
        ).fetchall()
    return {row["status"]: int(row["n"]) for row in rows}


def test_publish_many_sends_every_email_once_each_with_its_own_content(
    intake: Intake, company: TestCompany, sandbox: SandboxClient, worker: Process, database: Pool
) -> None:
    accepted = intake.publish_many(_events(company, 150))
    ids = [a.email_id for a in accepted]

    wait_for(lambda: _statuses(database, ids) == {"sent": 150}, timeout=60, what="150 sent")

    messages = sandbox.smtp_messages(rcpt=company.rcpt())
    assert sorted(m["subject"] for m in messages) == sorted(f"Invoice {n}" for n in range(150))
    for message in messages:
        [attachment] = message["attachments"]
        assert base64.b64decode(attachment["content_base64"]) == PDF
    with database.connection() as conn:
        events = conn.execute(
            "SELECT count(DISTINCT payload->>'email_id') AS n FROM outbox_events"
            " WHERE routing_key = 'email.sent' AND payload->>'email_id' = ANY(%s)",
            (ids,),
        ).fetchone()
    assert events is not None
    assert events["n"] == 150  # every email's own EmailSent


def test_a_refused_email_of_a_batch_fails_alone_with_the_servers_reply(
    intake: Intake,
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    database: Pool,
) -> None:
    sandbox.smtp_fail_next(1, 550, "5.1.1 no such mailbox")
    accepted = intake.publish_many(_events(company, 20))
    ids = [a.email_id for a in accepted]

    finals = [final_email(api, company, email_id) for email_id in ids]

    failed = [f for f in finals if f["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"]["code"] == "smtp_rejected"
    assert "no such mailbox" in failed[0]["error"]["message"]
    assert _statuses(database, ids) == {"sent": 19, "failed": 1}
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 19


def test_a_raw_batch_with_an_unreadable_event_records_it_and_sends_the_others(
    company: TestCompany,
    api: httpx.Client,
    sandbox: SandboxClient,
    worker: Process,
    broker: Any,
    database: Pool,
) -> None:
    good = _events(company, 2)
    unreadable = {"type": "EmailRequested", "schema_version": 1, "event_id": "no-company"}
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAILS,
        args=([good[0], unreadable, good[1]],),
        kwargs={},
        options={},
    )
    broker.enqueue(message)

    for event in good:
        email_id = email_id_for(company.id, event["event_id"])
        assert final_email(api, company, email_id)["status"] == "sent"

    def rejection() -> dict[str, Any] | None:
        with database.connection() as conn:
            return conn.execute(
                "SELECT reason FROM rejected_messages WHERE message_id = %s",
                (f"{message.message_id}#1",),
            ).fetchone()

    found: dict[str, Any] = wait_for(rejection, timeout=10, what="the rejection")
    assert "company_id" in found["reason"]


def test_a_send_batch_that_is_not_a_list_of_ids_is_refused_and_the_worker_goes_on(
    api: httpx.Client, company: TestCompany, worker: Process, broker: Any
) -> None:
    bad: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.SMTP,
        actor_name=queues.SEND_MANY_VIA_SMTP,
        args=(["not-an-id", str(uuid.uuid4())],),
        kwargs={},
        options={},
    )
    broker.enqueue(bad)

    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    assert final_email(api, company, accepted.json()["id"])["status"] == "sent"
    wait_for(
        lambda: "email_ids[0]: must be a UUID" in worker.log_path.read_text(errors="replace"),
        timeout=10,
        what="the refusal in the worker's log",
    )
