"""A Gmail send whose queue message dies ends `failed` (`dead_lettered`) with the reason in
`GET /v1/emails/{id}` and an `EmailFailed`, and replaying the message sends it through the
company's Gmail. PostgreSQL refuses the email's claim (a trigger on `emails`, for this email)."""

from __future__ import annotations

from typing import Any

import httpx

from mailroute.adapters.db.pool import Pool
from mailroute.core.mime import email_id_for
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import email_request, final_email
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.integration.ops.test_every_email_ends import (
    PostgresRefuses,
    _cli,
    _dead_message,
    _failed_event,
    outcomes,
)
from tests.stack import Process

__all__ = ["outcomes"]  # a fixture, found by name


def test_a_gmail_send_that_dies_ends_failed_and_its_replay_sends_it_through_gmail(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    api: httpx.Client,
    database: Pool,
    worker: Process,
    stack_env: dict[str, str],
    outcomes: Any,
) -> None:
    company = gmail_company.company
    request = email_request(company, sender="gmail")
    email_id = email_id_for(company.id, request["event_id"])
    with PostgresRefuses(
        database,
        f"TG_OP = 'UPDATE' AND NEW.id = '{email_id}' AND NEW.status = 'sending'",
        errcode="22023",
    ) as refusal:
        assert api.post("/v1/emails", json=request, headers=company.headers()).status_code == 202

        body = final_email(api, company, email_id)
        assert (body["status"], body["route"], body["error"]["code"]) == (
            "failed",
            "gmail",
            "dead_lettered",
        ), body
        said = body["error"]["message"]
        assert "while sending it through Gmail, at its first attempt" in said
        assert refusal.token in said
        event = _failed_event(outcomes, email_id)
        assert (event["error_code"], event["route"]) == ("dead_lettered", "gmail")
        message_id = _dead_message(database, refusal.token)
        assert google.gmail_sent(gmail_company.account) == []

    replayed = _cli(stack_env, "dlq", "replay", "--id", message_id)
    assert replayed.returncode == 0, replayed.stderr
    body = final_email(api, company, email_id)
    assert (body["status"], body["route"], body["error"]) == ("sent", "gmail", None), body
    assert len(google.gmail_sent(gmail_company.account)) == 1
