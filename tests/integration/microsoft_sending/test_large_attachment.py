"""A 20 MB attachment through the whole pipeline: the HTTP door stores it, the queue carries the
email's id, and Graph takes it as a draft with an upload session; it arrives byte-identical."""

from __future__ import annotations

import base64
import os

import httpx

from mailroute.adapters.db.pool import Pool
from mailroute_sandbox.client import SandboxClient as FullSandbox
from tests.conftest import email_request
from tests.integration.microsoft_sending.conftest import (
    MicrosoftCompany,
    all_ended,
    attachment_of,
    b64,
    rows,
)
from tests.stack import Process, wait_for

MiB = 1024 * 1024


def test_a_20_mb_attachment_goes_by_upload_session_and_arrives_byte_identical(
    microsoft_company: MicrosoftCompany,
    microsoft: FullSandbox,
    database: Pool,
    api: httpx.Client,
    worker: Process,
) -> None:
    company = microsoft_company.company
    scan = os.urandom(20 * MiB)
    body = email_request(
        company,
        sender="microsoft",
        attachments=[
            {"filename": "scan.pdf", "content_type": "application/pdf", "content_base64": b64(scan)}
        ],
    )
    accepted = api.post("/v1/emails", json=body, headers=company.headers("sender"))
    assert accepted.status_code == 202, accepted.text

    wait_for(all_ended(database, company.id, 1), timeout=120, interval=0.5, what="the email")
    [row] = rows(database, company.id)
    assert (row["status"], row["route"]) == ("sent", "microsoft")
    [sent] = microsoft.ms_sent(microsoft_company.account)
    assert sent["via"] == "draft"
    assert attachment_of(base64.b64decode(sent["raw_base64"]), "scan.pdf") == scan
    view = api.get(f"/v1/emails/{row['id']}", headers=company.headers("sender")).json()
    assert view["provider_message_id"] is None
    assert view["submitted_only"] is True
