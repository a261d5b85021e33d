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
    request["company_id"] = company.id
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAIL,
        args=({**request, "type": "EmailRequested", "schema_version": 1},),
        kwargs={},
        options={},
    )
    broker.enqueue(message)
    broker.enqueue(message)

    wait_for(lambda: sandbox.smtp_messages(rcpt=company.rcpt()), timeout=5, what="the email")
    wait_for(lambda: settled(database, broker_vhost), what="both deliveries and their sends")
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1
