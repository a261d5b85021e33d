"""EmailRequested: what producers may send, and how a refusal names the field and the rule."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mailroute.events import (
    EmailRequested,
    EmailSent,
    InvalidEventError,
    UnreadableEventError,
    read_event,
)


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "evt-1",
        "company_id": "4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90",
        "to": ["jane@example.com"],
        "subject": "Invoice 1",
        "text": "Hello",
    }
    body.update(overrides)
    return body


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEventError) as refused:
        EmailRequested.parse(data)
    return [(p.field, p.rule) for p in refused.value.problems]


def test_a_minimal_request_defaults_to_auto_sender_and_kind_other() -> None:
    event = EmailRequested.parse(request())
    assert (event.sender, event.kind, event.schema_version) == ("auto", "other", 1)


def test_addresses_keep_display_names_and_normalise_the_domain() -> None:
    event = EmailRequested.parse(request(to=['"Doe, Jane" <Jane@EXAMPLE.com>']))
    assert event.to == ['"Doe, Jane" <Jane@example.com>']


def test_a_display_name_that_is_not_ascii_is_kept_as_text_not_encoded() -> None:
    event = EmailRequested.parse(
        request(to=["Zoë Müller <zoe@example.com>"], cc=['"Müller, Zoë" <z@example.com>'])
    )
    assert event.to == ["Zoë Müller <zoe@example.com>"]
    assert event.cc == ['"Müller, Zoë" <z@example.com>']


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"to": ["jane"]}, ("to[0]", "email_address")),
        ({"bcc": ["a@b.example\r\nX: y"]}, ("bcc[0]", "header_injection")),
        ({"subject": "a\nb"}, ("subject", "header_injection")),
        ({"subject": "a\x00b"}, ("subject", "control_characters")),
        ({"text": "a\x00b"}, ("text", "control_characters")),
        ({"html": "<p>\x1b</p>"}, ("html", "control_characters")),
        ({"subject": "a\u2028b"}, ("subject", "line_separator")),
        ({"to": ["Jane\x85 <j@example.com>"]}, ("to[0]", "line_separator")),
        ({"subject": "a\ud800"}, ("subject", "invalid_unicode")),
        ({"to": ["\u202eJane <j@example.com>"]}, ("to[0]", "bidi_control")),
        ({"to": ["jos\u00e9@example.com"]}, ("to[0]", "ascii_address")),
        ({"cc": ["Jane <jane@ex\u00e4mple.com>"]}, ("cc[0]", "ascii_address")),
        ({"company_id": "urn:uuid:4f0c3b1e-5d2a-4c6e-9b7a-2e8d1f3a6c90"}, ("company_id", "uuid")),
        ({"subject": "x" * 999}, ("subject", "max_length")),
        ({"attachments": [{"filename": "a.pdf"}] * 101}, ("attachments", "max_attachments")),
        ({"schema_version": 2}, ("schema_version", "schema_version")),
        ({"correlation_id": "abc\n"}, ("correlation_id", "correlation_id")),
        ({"event_id": ""}, ("event_id", "not_empty")),
        ({"to": []}, ("to", "recipient_required")),
        ({"text": "", "html": "  "}, ("text", "body_required")),
        (
            {
                "to": [f"r{i}@example.com" for i in range(60)],
                "cc": [f"c{i}@example.com" for i in range(41)],
            },
            ("to", "max_recipients"),
        ),
    ],
)
def test_refusals_name_the_field_and_the_rule(
    overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in problems(request(**overrides))


def test_a_missing_field_is_named() -> None:
    data = request()
    del data["subject"]
    assert problems(data) == [("subject", "required")]


def test_an_attachment_must_be_base64_with_a_mime_type_and_a_plain_file_name() -> None:
    good = base64.b64encode(b"%PDF").decode()
    assert ("attachments[0].content_base64", "base64") in problems(
        request(
            attachments=[
                {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "a$b"}
            ]
        )
    )
    assert ("attachments[0].content_type", "content_type") in problems(
        request(attachments=[{"filename": "a.pdf", "content_type": "pdf", "content_base64": good}])
    )
    assert ("attachments[0].filename", "filename") in problems(
        request(
            attachments=[
                {"filename": "../a.pdf", "content_type": "application/pdf", "content_base64": good}
            ]
        )
    )


def test_attachment_size_is_the_decoded_size() -> None:
    content = b"x" * 1001
    event = EmailRequested.parse(
        request(
            attachments=[
                {
                    "filename": "a.bin",
                    "content_type": "application/octet-stream",
                    "content_base64": base64.b64encode(content).decode(),
                }
            ]
        )
    )
    assert event.attachments[0].size == len(content)
    assert event.attachments[0].content == content


def test_events_round_trip_through_the_wire_format() -> None:
    event = EmailRequested.parse(request())
    assert read_event(event.to_wire()) == event


def test_the_reader_ignores_unknown_keys() -> None:
    wire = {**EmailRequested.parse(request()).to_wire(), "added_in_a_later_version": 1}
    assert read_event(wire).subject == "Invoice 1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{nope", "not JSON"),
        ("[1, 2]", "JSON object"),
        ({"type": "Nonsense"}, "unknown event type"),
        ({**request(), "type": "EmailRequested", "schema_version": 7}, "unknown schema_version 7"),
        ({**request(), "type": "EmailRequested", "schema_version": "1"}, "must be an integer"),
    ],
)
def test_unreadable_messages_raise_a_permanent_error(raw: Any, message: str) -> None:
    with pytest.raises(UnreadableEventError, match=message):
        read_event(raw)


def test_a_reader_expecting_one_type_refuses_another() -> None:
    sent = EmailSent(
        email_id="e",
        event_id="v",
        company_id="c",
        route="default",
        from_address="a@example.com",
        message_id="<m@x>",
        sent_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
    )
    with pytest.raises(UnreadableEventError, match="expected a EmailRequested"):
        read_event(sent.to_wire(), expected="EmailRequested")
