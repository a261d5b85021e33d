"""The three doors share one validation; a message's log lines carry its ids and never its body."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mailroute.events import EmailRequested, InvalidEventError
from mailroute.services.intake import Intake, UnknownCompanyRequestError
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import LOG_DIR, MAILROUTE, Process


@pytest.fixture
def intake(database: Any, broker_vhost: str, settings: Any) -> Iterator[Intake]:
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    yield producer.intake
    producer.close()


def test_python_publish_accepts_an_event_and_it_is_sent(
    intake: Intake, api: httpx.Client, company: TestCompany, worker: Process
) -> None:
    event = EmailRequested.parse(email_request(company, company_id=company.id))
    accepted = intake.publish(event)
    assert final_email(api, company, accepted.email_id)["status"] == "sent"


def test_python_publish_raises_a_typed_error_naming_the_field(
    intake: Intake, company: TestCompany
) -> None:
    with pytest.raises(InvalidEventError) as refused:
        intake.publish(email_request(company, company_id=company.id, to=["nobody"]))
    assert [(p.field, p.rule) for p in refused.value.problems] == [("to[0]", "email_address")]
    with pytest.raises(UnknownCompanyRequestError):
        intake.publish(email_request(company, company_id=str(uuid.uuid4())))


def test_the_cli_send_command_sends_and_refuses_like_the_api(
    stack_env: dict[str, str],
    api: httpx.Client,
    company: TestCompany,
    worker: Process,
    tmp_path: Any,
) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4 cli")
    ok = subprocess.run(
        [
            MAILROUTE,
            "send",
            "--company",
            company.id,
            "--to",
            company.rcpt(),
            "--subject",
            "Invoice 9",
            "--text",
            "Hello",
            "--attach",
            str(pdf),
        ],
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    email_id = json.loads(ok.stdout.strip().splitlines()[-1])["id"]
    assert final_email(api, company, email_id)["status"] == "sent"

    refused = subprocess.run(
        [
            MAILROUTE,
            "send",
            "--company",
            company.id,
            "--to",
            "nobody",
            "--subject",
            "x",
            "--text",
            "y",
        ],
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "to[0]:" in refused.stderr
    assert "(email_address)" in refused.stderr


def test_every_log_line_of_a_message_carries_its_ids_and_no_body(
    api: httpx.Client, company: TestCompany, sandbox: SandboxClient, worker: Process, web: str
) -> None:
    secret_body = f"BODY-{uuid.uuid4()}-do-not-log"
    accepted = api.post(
        "/v1/emails",
        json=email_request(company, text=secret_body, html=f"<p>{secret_body}</p>"),
        headers=company.headers(),
    )
    email_id = accepted.json()["id"]
    final_email(api, company, email_id)

    lines = []
    for path in LOG_DIR.glob("*.log"):
        text = path.read_text(errors="replace")
        assert secret_body not in text, f"{path.name} logged the email body"
        assert company.admin_key not in text, f"{path.name} logged an API key"
        lines += [
            json.loads(line)
            for line in text.splitlines()
            if email_id in line and line.startswith("{")
        ]
    worker_lines = [line for line in lines if "actor" in line]
    assert {line["actor"] for line in worker_lines} == {
        "mailroute.route_email",
        "mailroute.send_via_smtp",
    }
    for line in worker_lines:
        assert line["message_id"], line
        assert line["company_id"] == company.id, line
        assert line["email_id"] == email_id, line
