"""Every door runs the same rules: HTTP, `publish` and a raw queue message refuse the same bad
request naming the same field and rule, and nothing is stored or sent (the CLI, whose arguments
cannot carry every case, is checked on those it can). Never a 500, never a silent rewrite.
"""

from __future__ import annotations

import base64
import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.services.intake import Intake
from tests.conftest import SandboxClient, TestCompany, email_request
from tests.integration.pipeline.doors import (
    put_on_dispatch,
    refused_by_publish,
    refused_over_http,
    rejection,
    stored_emails,
)
from tests.settled import broker_idle
from tests.stack import Process, wait_for

WINDOWS_EXE = b"MZ" + b"\x00" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\x00\x00" + bytes(64)


def _zip_holding(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, b"alert(1)")
    return buffer.getvalue()


def _attachment(
    filename: str = "a.pdf", content_type: str = "application/pdf", content: bytes = b"%PDF-1.4"
) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": content_type,
        "content_base64": base64.b64encode(content).decode(),
    }


@dataclass(frozen=True)
class Case:
    name: str
    overrides: dict[str, Any]
    field: str
    rule: str


def _company_id_as(form: str) -> Any:
    return lambda company_id: {
        "urn": f"urn:uuid:{company_id}",
        "braces": "{" + company_id + "}",
        "upper": company_id.upper(),
        "no hyphens": company_id.replace("-", ""),
    }[form]


CASES = [
    Case("NUL in the text body", {"text": "Hello\x00Jane"}, "text", "control_characters"),
    Case("NUL in the html body", {"html": "<p>\x00</p>"}, "html", "control_characters"),
    Case("an escape in the text body", {"text": "red \x1b[31m"}, "text", "control_characters"),
    Case(
        "a C1 control in the subject",
        {"subject": "Invoice \x9b42"},
        "subject",
        "control_characters",
    ),
    Case("NUL in the event id", {"event_id": "evt\x00"}, "event_id", "control_characters"),
    Case("a lone surrogate in the subject", {"subject": "Inv\ud800"}, "subject", "invalid_unicode"),
    Case("a lone surrogate in the text body", {"text": "Hi \udc00"}, "text", "invalid_unicode"),
    Case("U+2028 in the subject", {"subject": "Invoice\u2028Bcc: x"}, "subject", "line_separator"),
    Case("U+2029 in the subject", {"subject": "Invoice\u202942"}, "subject", "line_separator"),
    Case("U+0085 in the subject", {"subject": "Invoice\x8542"}, "subject", "line_separator"),
    Case(
        "U+2028 in a display name",
        {"to": ["Jane\u2028Doe <jane@example.com>"]},
        "to[0]",
        "line_separator",
    ),
    Case(
        "U+202E in a file name",
        {"attachments": [_attachment("invoice\u202efdp.exe")]},
        "attachments[0].filename",
        "bidi_control",
    ),
    Case(
        "U+2066 in a file name",
        {"attachments": [_attachment("\u2066invoice.pdf")]},
        "attachments[0].filename",
        "bidi_control",
    ),
    Case(
        "U+202E in a display name",
        {"cc": ["\u202eJane <jane@example.com>"]},
        "cc[0]",
        "bidi_control",
    ),
    Case(
        "an internationalized address",
        {"to": ["Jos\u00e9 <jos\u00e9@example.com>"]},
        "to[0]",
        "ascii_address",
    ),
    Case(
        "an .exe attachment",
        {"attachments": [_attachment("setup.exe", "application/octet-stream")]},
        "attachments[0].filename",
        "blocked_file_type",
    ),
    Case(
        "a compressed .js attachment",
        {"attachments": [_attachment("tool.JS.gz", "application/gzip")]},
        "attachments[0].filename",
        "blocked_file_type",
    ),
    Case(
        "an executable content type",
        {"attachments": [_attachment("invoice.pdf", "application/x-msdownload")]},
        "attachments[0].content_type",
        "blocked_file_type",
    ),
    Case(
        "a Windows executable named .pdf",
        {"attachments": [_attachment(content=WINDOWS_EXE)]},
        "attachments[0].content_base64",
        "blocked_file_type",
    ),
    Case(
        "a zip holding a script",
        {"attachments": [_attachment("a.zip", "application/zip", _zip_holding("x/run.vbs"))]},
        "attachments[0].content_base64",
        "blocked_file_type",
    ),
    Case(
        "a content type with a trailing newline",
        {"attachments": [_attachment(content_type="application/pdf\n")]},
        "attachments[0].content_type",
        "content_type",
    ),
    Case(
        "101 attachments",
        {"attachments": [_attachment(f"a{i}.pdf") for i in range(101)]},
        "attachments",
        "max_attachments",
    ),
    Case(
        "100 001 recipients",
        {"to": ["r@example.com"] * 100_001},
        "to",
        "max_recipients",
    ),
    Case(
        "a 2000-character address",
        {"to": ["J" * 2000 + " <jane@example.com>"]},
        "to[0]",
        "max_length",
    ),
    Case(
        "a correlation id ending in LF",
        {"correlation_id": "order-7\n"},
        "correlation_id",
        "correlation_id",
    ),
    Case("a subject that is a number", {"subject": 42}, "subject", "string"),
    Case("recipients that are not a list", {"to": "jane@example.com"}, "to", "list"),
    Case("an attachment that is a string", {"attachments": ["a.pdf"]}, "attachments[0]", "object"),
    Case("an unknown schema version", {"schema_version": 2}, "schema_version", "schema_version"),
]
# The queue reader refuses an unknown version before it reads a field (tested on its own below).
QUEUE_CASES = [c for c in CASES if c.rule != "schema_version"]
COMPANY_ID_FORMS = ["urn", "braces", "upper", "no hyphens"]


def _request(company: TestCompany, case: Case) -> dict[str, Any]:
    return email_request(company, company_id=company.id, **case.overrides)


@pytest.fixture
def intake(database: Any, broker_vhost: str, settings: Any) -> Iterator[Intake]:
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    yield producer.intake
    producer.close()


def _nothing_stored_or_sent(database: Pool, company: TestCompany, sandbox: SandboxClient) -> None:
    assert stored_emails(database, company) == 0
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_http_refuses_naming_the_field_and_the_rule(
    api: httpx.Client, company: TestCompany, database: Pool, sandbox: SandboxClient, case: Case
) -> None:
    status, refusal = refused_over_http(api, company, _request(company, case))

    assert status == 422
    assert (case.field, case.rule) in refusal, refusal
    _nothing_stored_or_sent(database, company, sandbox)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_publish_refuses_naming_the_same_field_and_rule(
    intake: Intake, company: TestCompany, database: Pool, sandbox: SandboxClient, case: Case
) -> None:
    refusal = refused_by_publish(intake, _request(company, case))

    assert refusal is not None
    assert (case.field, case.rule) in refusal, refusal
    _nothing_stored_or_sent(database, company, sandbox)


@pytest.mark.parametrize("case", QUEUE_CASES, ids=[c.name for c in QUEUE_CASES])
def test_a_raw_queue_message_is_recorded_with_the_same_field_and_rule_and_not_retried(
    broker: Any,
    worker: Process,
    company: TestCompany,
    database: Pool,
    sandbox: SandboxClient,
    broker_vhost: str,
    case: Case,
) -> None:
    message_id = put_on_dispatch(broker, _request(company, case))

    reason = rejection(database, message_id)["reason"]

    assert f"{case.field}: " in reason, reason
    assert f"({case.rule})" in reason, reason
    wait_for(lambda: broker_idle(broker_vhost), timeout=15, what="the dispatch queue to drain")
    _nothing_stored_or_sent(database, company, sandbox)


@pytest.mark.parametrize("form", COMPANY_ID_FORMS)
def test_a_company_id_in_another_uuid_form_is_refused_at_every_door(
    api: httpx.Client,
    intake: Intake,
    broker: Any,
    worker: Process,
    company: TestCompany,
    database: Pool,
    sandbox: SandboxClient,
    form: str,
) -> None:
    other_form = _company_id_as(form)(company.id)
    body = email_request(company, company_id=other_form)

    status, over_http = refused_over_http(api, company, body)
    by_publish = refused_by_publish(intake, body)
    reason = rejection(database, put_on_dispatch(broker, body))["reason"]

    assert status == 422
    assert ("company_id", "uuid") in over_http
    assert by_publish == [("company_id", "uuid")]
    assert "company_id: " in reason
    assert "(uuid)" in reason
    _nothing_stored_or_sent(database, company, sandbox)


def test_an_unknown_schema_version_is_refused_over_http_and_by_the_queue_reader(
    api: httpx.Client, broker: Any, worker: Process, company: TestCompany, database: Pool
) -> None:
    body = email_request(company, company_id=company.id, schema_version=99)

    status, refusal = refused_over_http(api, company, body)
    reason = rejection(database, put_on_dispatch(broker, body))["reason"]

    assert (status, refusal) == (422, [("schema_version", "schema_version")])
    assert "unknown schema_version 99" in reason
    assert stored_emails(database, company) == 0


def test_valid_text_with_tabs_line_breaks_and_right_to_left_marks_is_accepted_unchanged(
    api: httpx.Client, company: TestCompany, worker: Process, sandbox: SandboxClient
) -> None:
    text = "Shalom \u200f\u05e9\u05dc\u05d5\u05dd\u200f,\r\n\tyour invoice\u2028is attached.\n"
    body = email_request(company, subject="Invoice\t42 \u05e9\u05dc\u05d5\u05dd", text=text)

    response = api.post("/v1/emails", json=body, headers=company.headers())

    assert response.status_code == 202, response.text
    [received] = wait_for(lambda: sandbox.smtp_messages(rcpt=company.rcpt()), timeout=20)
    assert received["subject"] == "Invoice\t42 \u05e9\u05dc\u05d5\u05dd"
    assert received["text"] == text.replace("\r\n", "\n")


def test_the_same_event_cannot_become_two_emails_by_writing_its_company_id_twice(
    api: httpx.Client, company: TestCompany, database: Pool
) -> None:
    event_id = f"evt-{uuid.uuid4()}"
    first = api.post(
        "/v1/emails", json=email_request(company, event_id=event_id), headers=company.headers()
    )
    second = api.post(
        "/v1/emails",
        json=email_request(company, event_id=event_id, company_id=company.id.upper()),
        headers=company.headers(),
    )

    assert first.status_code == 202
    assert second.status_code == 422
    assert stored_emails(database, company) == 1
