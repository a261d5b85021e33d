"""The intake rules on their own: any request either parses or is refused naming fields and
stable rules (never another exception), and whatever parses builds a message that a modern
parser reads back as sent. Then each rule that is not a plain field check: text, file types,
nesting, canonical ids, company names, and the headers people read.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
import zipfile
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mailroute.core.company_rules import parse_new_company
from mailroute.core.mime import build_message, from_header, readable_address
from mailroute.core.model import OutgoingEmail, StoredAttachment
from mailroute.core.notice_text import BrokenConnection, auth_broken_notice
from mailroute.events import EmailRequested, InvalidEventError, UnreadableEventError, read_event
from mailroute.events.file_types import blocked_content, blocked_extension
from mailroute.events.ids import is_canonical_uuid
from mailroute.events.text_rules import header_problem, one_line
from mailroute.events.wire_json import TooDeepError, loads
from tests.email_request_strategies import email_requests, readable_text

COMPANY = "4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90"
RULE = re.compile(r"[a-z][a-z0-9_]*")


def _outgoing(event: EmailRequested) -> OutgoingEmail:
    return OutgoingEmail(
        id=str(uuid.uuid4()),
        company_id=event.company_id,
        event_id=event.event_id,
        subject=event.subject,
        to=tuple(event.to),
        cc=tuple(event.cc),
        bcc=tuple(event.bcc),
        text=event.text,
        html=event.html,
        reply_to=event.reply_to,
        message_id=f"<{uuid.uuid4()}@{'d' * 60}.example>",
        attachments=tuple(
            StoredAttachment(a.filename, a.content_type, a.content) for a in event.attachments
        ),
    )


def _parsed_or_refusal(body: dict[str, Any]) -> EmailRequested | InvalidEventError:
    try:
        return EmailRequested.parse(body)
    except InvalidEventError as refused:
        return refused


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(email_requests(COMPANY))
def test_any_request_parses_or_is_refused_naming_fields_and_rules(body: dict[str, Any]) -> None:
    body.setdefault("event_id", "evt-1")
    body.setdefault("company_id", COMPANY)
    event = _parsed_or_refusal(body)
    if isinstance(event, InvalidEventError):
        assert event.problems
        for problem in event.problems:
            assert problem.field
            assert RULE.fullmatch(problem.rule), problem
        return
    outgoing = _outgoing(event)
    raw = build_message(outgoing, from_="Café Ltd <no-reply@acme.example>").as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = message_from_bytes(raw, policy=default)
    assert str(parsed["Subject"]) == event.subject
    assert parsed["Message-ID"] == outgoing.message_id


@settings(max_examples=300, deadline=None)
@given(readable_text)
def test_any_subject_that_meets_the_rules_reads_back_exactly(subject: str) -> None:
    if header_problem(subject) or not subject.strip():
        return
    email = OutgoingEmail(
        id="e", company_id="c", event_id="v", subject=subject, to=("a@b.example",)
    )
    parsed = message_from_bytes(
        build_message(email, from_="a@b.example").as_bytes(), policy=default
    )
    assert str(parsed["Subject"]) == subject


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a\x00b", "control_characters"),
        ("a\x9bb", "control_characters"),
        ("a\ud800", "invalid_unicode"),
        ("a\r\nb", "header_injection"),
        ("a\u2028b", "line_separator"),
        ("a\u2029b", "line_separator"),
        ("a\x85b", "line_separator"),
        ("tab\tis fine", None),
        ("RTL mark \u200f is fine", None),
    ],
)
def test_header_text_rules(value: str, rule: str | None) -> None:
    problem = header_problem(value)
    assert (problem[0] if problem else None) == rule


@pytest.mark.parametrize(
    ("filename", "blocked"),
    [
        ("setup.exe", "exe"),
        ("SETUP.EXE", "exe"),
        ("setup.exe.", "exe"),
        ("setup.exe ", "exe"),
        ("tool.js.gz", "js"),
        ("a.tar.gz", None),
        ("invoice.pdf", None),
        ("exe", None),
        (".bat", "bat"),  # Windows runs it
        ("x.ps1.bz2", "ps1"),
    ],
)
def test_blocked_file_names_by_extension(filename: str, blocked: str | None) -> None:
    assert blocked_extension(filename) == blocked


def test_blocked_content_is_a_windows_executable_or_a_zip_holding_a_blocked_file() -> None:
    exe = b"MZ" + b"\x00" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\x00\x00" + bytes(8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("invoice.pdf", b"%PDF")
        archive.writestr("bin/run.cmd", b"echo")
    assert blocked_content(exe) == "is a Windows executable"
    assert blocked_content(buffer.getvalue()) == "is a zip archive holding 'bin/run.cmd'"
    assert blocked_content(b"MZ but no PE header" + bytes(80)) is None
    assert blocked_content(b"PK\x03\x04 not really a zip") is None


def test_json_nesting_is_limited_without_recursion() -> None:
    with pytest.raises(TooDeepError):
        loads("[" * 200_000 + "]" * 200_000)
    with pytest.raises(TooDeepError) as deep:
        loads('{"notes": ' + "[" * 40 + "]" * 40 + "}")
    assert deep.value.field == "notes"
    assert loads('{"a": ' + "[" * 31 + "]" * 31 + "}") is not None
    with pytest.raises(UnreadableEventError, match="max_depth"):
        read_event("[" * 200_000 + "]" * 200_000)


@pytest.mark.parametrize(
    "value",
    [
        "urn:uuid:4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90",
        "{4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90}",
        "4F0C3B1E-5D2A-4C6E-9B7A-2E8D1F3A6C90",
        "4f0c3b1e5d2a4c6e9b7a2e8d1f3a6c90",
        "4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90\n",
        7,
        None,
    ],
)
def test_only_the_canonical_form_is_an_id(value: Any) -> None:
    assert not is_canonical_uuid(value)
    assert is_canonical_uuid(COMPANY)


def test_an_event_built_without_validation_is_checked_again() -> None:
    unchecked = EmailRequested.model_construct(
        event_id="e", company_id=COMPANY, to=["a@example.com"], subject="Hi", text="a\x00"
    )
    with pytest.raises(InvalidEventError) as refused:
        EmailRequested.parse(unchecked)
    assert [(p.field, p.rule) for p in refused.value.problems] == [("text", "control_characters")]


def test_a_company_name_is_one_line_a_person_reads() -> None:
    with pytest.raises(InvalidEventError) as refused:
        parse_new_company({"name": "Acme\r\nBcc: x@y.example", "reply_to": "a@example.com"})
    assert [(p.field, p.rule) for p in refused.value.problems] == [("name", "header_injection")]
    assert parse_new_company({"name": "Zoë's Café", "reply_to": "a@example.com"}).name == (
        "Zoë's Café"
    )


def test_from_is_written_as_text_and_encoded_only_in_the_message() -> None:
    assert from_header("Café, Zoë", "Shop <no-reply@shop.example>") == (
        '"Café, Zoë" <no-reply@shop.example>'
    )
    assert from_header("Café", "no-reply@shop.example") == "Café <no-reply@shop.example>"
    assert from_header("", "no-reply@shop.example") == "no-reply@shop.example"
    assert readable_address("=?utf-8?b?Q2Fmw6kgTHRk?= <a@b.example>") == "Café Ltd <a@b.example>"
    assert readable_address("Acme <a@b.example>") == "Acme <a@b.example>"


def test_a_stored_name_with_a_line_break_cannot_break_the_from_or_the_notice() -> None:
    name = "Acme\r\nBcc: victim@evil.example"
    notice = auth_broken_notice(
        BrokenConnection(name, "owner@acme.example", "revoked", datetime.now(UTC)),
        "https://mailroute.example",
    )
    email = OutgoingEmail(
        id="e", company_id="c", event_id="v", subject=notice.subject, to=("admin@acme.example",)
    )
    raw = build_message(email, from_=from_header(name, "owner@acme.example")).as_bytes()
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["Bcc"] is None
    assert str(parsed["From"]) == '"Acme  Bcc: victim@evil.example" <owner@acme.example>'
    assert one_line(name) in str(parsed["Subject"])


def test_a_long_message_id_is_not_folded() -> None:
    message_id = f"<{uuid.uuid4()}@{'a' * 60}.{'b' * 60}.example>"
    email = OutgoingEmail(
        id="e",
        company_id="c",
        event_id="v",
        subject="x",
        to=("a@b.example",),
        message_id=message_id,
    )
    raw = build_message(email, from_="a@b.example").as_bytes()
    assert f"Message-ID: {message_id}\r\n".encode() in raw
    assert message_from_bytes(raw, policy=default)["Message-ID"] == message_id


def test_an_attachment_of_a_blocked_type_is_refused_by_name_type_and_content() -> None:
    def refused(**attachment: str) -> list[tuple[str, str]]:
        body = {
            "event_id": "e",
            "company_id": COMPANY,
            "to": ["a@example.com"],
            "subject": "Hi",
            "text": "Hello",
            "attachments": [
                {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": ""}
                | attachment
            ],
        }
        with pytest.raises(InvalidEventError) as caught:
            EmailRequested.parse(body)
        return [(p.field, p.rule) for p in caught.value.problems]

    mz = base64.b64encode(b"MZ" + b"\0" * 0x3A + b"\x40\0\0\0" + b"PE\0\0").decode()
    assert refused(filename="a.exe") == [("attachments[0].filename", "blocked_file_type")]
    assert refused(content_type="application/java-archive") == [
        ("attachments[0].content_type", "blocked_file_type")
    ]
    assert refused(content_base64=mz) == [("attachments[0].content_base64", "blocked_file_type")]


def test_more_than_100_attachments_are_refused_before_any_is_read() -> None:
    body = {
        "event_id": "e",
        "company_id": COMPANY,
        "to": ["a@example.com"],
        "subject": "s",
        "text": "t",
        "attachments": [{"filename": "a.pdf"}] * 101,  # not one of them is complete
    }
    with pytest.raises(InvalidEventError) as refused:
        EmailRequested.parse(body)
    assert [(p.field, p.rule) for p in refused.value.problems] == [
        ("attachments", "max_attachments")
    ]


def test_a_body_line_longer_than_smtp_allows_is_sent_quoted_printable() -> None:
    html = "<p>" + "x" * 5000 + "</p>"
    email = OutgoingEmail(
        id="e", company_id="c", event_id="v", subject="s", to=("a@b.example",), html=html
    )
    raw = build_message(email, from_="a@b.example").as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body = message_from_bytes(raw, policy=default).get_body(("html",))
    assert body is not None
    assert body.get_content().rstrip("\n") == html
