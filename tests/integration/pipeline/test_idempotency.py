"""Nothing doubled: the same event twice, or the same message delivered twice, sends one email."""

from __future__ import annotations

from typing import Any

import dramatiq
import httpx

from mailroute.adapters.db.pool import Pool
from mailroute.events import queues
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.settled import settled
from tests.stack import Process, wait_for


def _dispatch_message(request: dict[str, Any]) -> dramatiq.Message[Any]:
    """A producer's raw EmailRequested on the dispatch queue."""
    return dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAIL,
        args=({**request, "type": "EmailRequested", "schema_version": 1},),
        kwargs={},
        options={},
    )


def test_the_same_event_id_posted_twice_sends_one_email(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    database: Pool,
    broker_vhost: str,
) -> None:
    request = email_request(company)
    first = api.post("/v1/emails", json=request, headers=company.headers())
    second = api.post("/v1/emails", json=request, headers=company.headers())

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    email_id = first.json()["id"]
    assert final_email(api, company, email_id)["status"] == "sent"
    wait_for(lambda: settled(database, broker_vhost, email_id=email_id), what="all work done")
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_the_idempotency_key_header_names_the_event(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    database: Pool,
    broker_vhost: str,
) -> None:
    request = email_request(company)
    del request["event_id"]
    headers = {**company.headers(), "Idempotency-Key": "invoice-77-reminder-1"}
    first = api.post("/v1/emails", json=request, headers=headers)
    second = api.post("/v1/emails", json=request, headers=headers)

    assert first.json()["id"] == second.json()["id"]
    assert first.json()["event_id"] == "invoice-77-reminder-1"
    email_id = first.json()["id"]
    final_email(api, company, email_id)
    wait_for(lambda: settled(database, broker_vhost, email_id=email_id), what="all work done")
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_the_same_message_delivered_twice_to_dispatch_sends_one_email(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    broker: Any,
    database: Pool,
    broker_vhost: str,
) -> None:
    request = email_request(company)
    message = _dispatch_message({**request, "company_id": company.id})
    broker.enqueue(message)
    broker.enqueue(message)

    wait_for(lambda: sandbox.smtp_messages(rcpt=company.rcpt()), timeout=5, what="the email")
    wait_for(lambda: settled(database, broker_vhost), what="both deliveries and their sends")
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_a_replay_answers_the_first_result_marked_as_a_replay(
    api: httpx.Client, company: TestCompany, worker: Process
) -> None:
    request = email_request(company)
    first = api.post("/v1/emails", json=request, headers=company.headers())
    final_email(api, company, first.json()["id"])
    again = api.post("/v1/emails", json=request, headers=company.headers())

    assert first.status_code == again.status_code == 202
    assert first.json()["replayed"] is False
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert {**again.json(), "replayed": False} == first.json()


def test_the_same_event_id_with_a_different_request_is_refused_with_409(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    request = email_request(company)
    first = api.post("/v1/emails", json=request, headers=company.headers())
    changed = {**request, "subject": "Invoice 2026-0043 (corrected)"}
    conflict = api.post("/v1/emails", json=changed, headers=company.headers())

    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["fields"][0]["field"] == "event_id"
    assert error["fields"][0]["rule"] == "same_request"
    final_email(api, company, first.json()["id"])
    assert [m["subject"] for m in sandbox.smtp_messages(rcpt=company.rcpt())] == [
        request["subject"]
    ]


def test_a_reused_idempotency_key_with_another_body_names_the_header(
    api: httpx.Client, company: TestCompany, worker: Process
) -> None:
    request = email_request(company)
    del request["event_id"]
    headers = {**company.headers(), "Idempotency-Key": f"key-{company.tag}"}
    assert api.post("/v1/emails", json=request, headers=headers).status_code == 202
    other = api.post("/v1/emails", json={**request, "text": "Another body"}, headers=headers)

    assert other.status_code == 409
    assert other.json()["error"]["fields"][0]["field"] == "Idempotency-Key"


def test_a_queued_event_reusing_an_event_id_for_another_email_is_recorded_not_sent(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    broker: Any,
    database: Pool,
    broker_vhost: str,
) -> None:
    request = email_request(company)
    first = api.post("/v1/emails", json=request, headers=company.headers()).json()
    final_email(api, company, first["id"])
    reused = {**request, "company_id": company.id, "subject": "Something else entirely"}
    message = _dispatch_message(reused)
    broker.enqueue(message)

    def recorded() -> Any:
        with database.connection() as conn:
            return conn.execute(
                "SELECT reason FROM rejected_messages WHERE message_id = %s",
                (message.message_id,),
            ).fetchone()

    row = wait_for(recorded, what="the refusal recorded")
    assert "used before for a different request" in row["reason"]
    wait_for(lambda: settled(database, broker_vhost), what="nothing else to do")
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1
