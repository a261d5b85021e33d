"""The default-SMTP route end to end: HTTP intake → dispatch → send_via_smtp → the SMTP sink."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx

from tests.conftest import PDF, SandboxClient, TestCompany, email_request
from tests.stack import Process, wait_for


def _final(api: httpx.Client, company: TestCompany, email_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        response = api.get(f"/v1/emails/{email_id}", headers=company.headers())
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"] in ("sent", "failed") else None

    result: dict[str, Any] = wait_for(done, timeout=15, what=f"email {email_id} to finish")
    return result


def test_an_accepted_email_arrives_in_the_sink_as_sent_with_its_pdf_intact(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    request = email_request(company, reply_to=None)
    response = api.post("/v1/emails", json=request, headers=company.headers())
    assert response.status_code == 202, response.text
    email_id = response.json()["id"]

    messages = wait_for(
        lambda: sandbox.smtp_messages(rcpt=company.rcpt()), timeout=2.0, what="the message"
    )
    assert len(messages) == 1
    message = messages[0]
    assert message["from"] == f"{company.name} <no-reply@mailroute.localhost>"
    assert message["reply_to"] == company.reply_to
    assert message["headers"]["To"] == f"Jane Client <{company.rcpt()}>"
    assert message["to"] == [company.rcpt()]
    assert message["rcpt_tos"] == [company.rcpt()]
    assert message["subject"] == "Invoice 2026-0042"
    assert "please find invoice 2026-0042 attached" in message["text"]
    assert "<b>2026-0042</b>" in message["html"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "invoice-2026-0042.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert base64.b64decode(attachment["content_base64"]) == PDF
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()

    final = _final(api, company, email_id)
    assert final["status"] == "sent"
    assert final["route"] == "default"
    assert final["attempts"] == 1
    assert final["error"] is None
    assert message["message_id"] == final["message_id"]
