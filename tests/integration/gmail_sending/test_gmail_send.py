"""From Gmail with an active connection: what the company's Gmail account sent, and the row."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from typing import Any

from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import PDF
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process, wait_for


def test_sends_through_the_companys_gmail_with_its_from_message_id_bodies_and_pdf(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    email_id = publish(gmail_company, cc=[gmail_company.rcpt("accounting")])

    row = finished(email_id)
    assert row["status"] == "sent", row["error_message"]
    assert row["route"] == "gmail"
    [sent] = google.gmail_sent(gmail_company.account)
    assert row["provider_message_id"] == sent["gmail_id"]
    assert row["provider_thread_id"] == sent["thread_id"]
    assert sent["upload_type"] == "json"
    company = gmail_company.company
    assert sent["from"] == f"{company.name} <{gmail_company.account}>"
    assert row["from_address"] == sent["from"]
    assert sent["message_id"] == row["message_id"] == f"<{email_id}@acme-sandbox.test>"
    assert sent["rcpt_tos"] == [gmail_company.rcpt(), gmail_company.rcpt("accounting")]
    assert sent["subject"] == "Invoice 2026-0042"
    assert "please find invoice 2026-0042 attached" in sent["text"]
    assert "<b>2026-0042</b>" in sent["html"]
    [attachment] = sent["attachments"]
    assert attachment["filename"] == "invoice-2026-0042.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert base64.b64decode(attachment["content_base64"]) == PDF


def test_a_20_mb_attachment_goes_by_the_upload_path(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    big = os.urandom(20 * 1024 * 1024)
    attachment = {
        "filename": "statement-2026.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(big).decode(),
    }
    email_id = publish(gmail_company, attachments=[attachment])

    row = finished(email_id, timeout=60)
    assert row["status"] == "sent", row["error_message"]
    [sent] = wait_for(lambda: google.gmail_sent(gmail_company.account), what="the upload")
    assert sent["upload_type"] in ("media", "multipart", "resumable")
    assert row["provider_message_id"] == sent["gmail_id"]
    [received] = sent["attachments"]
    assert hashlib.sha256(base64.b64decode(received["content_base64"])).digest() == (
        hashlib.sha256(big).digest()
    )
