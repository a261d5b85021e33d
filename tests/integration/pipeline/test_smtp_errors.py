"""SMTP 4xx and dropped connections are retried with backoff; 5xx fail at once with the reply."""

from __future__ import annotations

import httpx

from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process


def test_a_temporary_refusal_is_retried_until_the_email_is_sent(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    sandbox.smtp_fail_next(2, 451, "4.3.0 mailbox busy, try again")
    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())

    final = final_email(api, company, accepted.json()["id"], timeout=30)

    assert final["status"] == "sent"
    assert final["attempts"] == 3
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1


def test_a_permanent_refusal_fails_at_once_with_the_servers_reply(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process
) -> None:
    sandbox.smtp_fail_next(1, 550, "5.7.1 relaying denied")
    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())

    final = final_email(api, company, accepted.json()["id"])

    assert final["status"] == "failed"
    assert final["attempts"] == 1
    assert final["error"]["code"] == "smtp_rejected"
    assert "550" in final["error"]["message"]
    assert "relaying denied" in final["error"]["message"]
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []
