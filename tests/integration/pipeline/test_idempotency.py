"""Nothing doubled: the same event twice, or the same message delivered twice, sends one email."""

from __future__ import annotations

import time
from typing import Any

import dramatiq
import httpx

from mailroute.events import queues
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, wait_for


def test_the_same_event_id_posted_twice_sends_one_email(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    request = email_request(company)
    first = api.post("/v1/emails", json=request, headers=company.headers())
    second = api.post("/v1/emails", json=request, headers=company.headers())

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert final_email(api, company, first.json()["id"])["status"] == "sent"
    time.sleep(0.5)  # give a wrongly doubled send the time to show up
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_the_idempotency_key_header_names_the_event(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    request = email_request(company)
    del request["event_id"]
    headers = {**company.headers(), "Idempotency-Key": "invoice-77-reminder-1"}
    first = api.post("/v1/emails", json=request, headers=headers)
    second = api.post("/v1/emails", json=request, headers=headers)

    assert first.json()["id"] == second.json()["id"]
    assert first.json()["event_id"] == "invoice-77-reminder-1"
    final_email(api, company, first.json()["id"])
    time.sleep(0.5)
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_the_same_message_delivered_twice_to_dispatch_sends_one_email(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process, broker: Any
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
    time.sleep(1.0)
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1
