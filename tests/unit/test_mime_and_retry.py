"""The RFC 5322 message we build, and the retry arithmetic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

from mailroute.core.errors import ProviderBusyError
from mailroute.core.mime import build_message, email_id_for, envelope_address, message_id_for
from mailroute.core.model import OutgoingEmail, StoredAttachment
from mailroute.core.retry import RetryPolicy, decide_retry


def _email(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "id": "e1",
        "company_id": "c1",
        "event_id": "v1",
        "subject": "Invoice 1",
        "to": ("Jane <jane@example.com>",),
        "bcc": ("audit@example.com",),
        "text": "Hello",
        "html": "<p>Hello</p>",
        "reply_to": "billing@acme.example",
        "message_id": "<e1@acme.example>",
        "attachments": (StoredAttachment("a.pdf", "application/pdf", b"%PDF-1.4"),),
    }
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def test_the_message_has_text_and_html_alternatives_an_attachment_and_no_bcc_header() -> None:
    raw = build_message(_email(), from_="Acme <no-reply@acme.example>").as_bytes()
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["From"] == "Acme <no-reply@acme.example>"
    assert parsed["Reply-To"] == "billing@acme.example"
    assert parsed["Message-ID"] == "<e1@acme.example>"
    assert parsed["Bcc"] is None
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Hello"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "a.pdf"
    assert attachment.get_content() == b"%PDF-1.4"


def test_non_ascii_subjects_names_bodies_and_file_names_survive_the_round_trip() -> None:
    email = _email(
        subject="Facture n° 42 — Café Zoë",
        to=("Zoë Müller <zoe@example.com>",),
        text="Bonjour Zoë, voici la facture.",
        html=None,
        attachments=(StoredAttachment("facture-été.pdf", "application/pdf", b"%PDF"),),
    )
    parsed = message_from_bytes(
        build_message(email, from_="Café Ltd <no-reply@acme.example>").as_bytes(), policy=default
    )
    assert str(parsed["Subject"]) == "Facture n° 42 — Café Zoë"
    assert str(parsed["To"]) == "Zoë Müller <zoe@example.com>"
    assert str(parsed["From"]) == "Café Ltd <no-reply@acme.example>"
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Bonjour Zoë, voici la facture."
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "facture-été.pdf"
    assert attachment.get_content() == b"%PDF"


def test_the_message_uses_crlf_line_endings_as_smtp_requires() -> None:
    raw = build_message(_email(), from_="Acme <no-reply@acme.example>").as_bytes()
    assert b"\r\n" in raw
    assert raw.replace(b"\r\n", b"").count(b"\n") == 0


def test_ids_are_stable_for_the_same_email() -> None:
    assert email_id_for("c", "v") == email_id_for("c", "v") != email_id_for("c", "w")
    assert message_id_for("e1", "Acme <x@acme.example>") == "<e1@acme.example>"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=10)
    rng = random.Random(1)
    delays = [policy.delay_after(n, rng) for n in (1, 2, 3, 10)]
    assert 1 <= delays[0] <= 2
    assert 2 <= delays[1] <= 4
    assert 4 <= delays[2] <= 8
    assert 5 <= delays[3] <= 10


def test_a_retry_honours_the_providers_retry_time_and_stops_after_the_last_attempt() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    busy = ProviderBusyError("slow down", retry_at=now + timedelta(minutes=3))
    policy = RetryPolicy(max_attempts=3)
    assert decide_retry(busy, 1, policy, now).delay_seconds >= 180
    assert not decide_retry(busy, 3, policy, now).retry


def test_envelope_addresses_are_the_bare_addresses_of_canonical_header_values() -> None:
    assert envelope_address("jane@example.com") == "jane@example.com"
    assert envelope_address('"Doe, Jane" <jane@example.com>') == "jane@example.com"
    assert envelope_address('"a<b" <x@example.com>') == "x@example.com"
    assert envelope_address("Zoë <zoe@example.com>") == "zoe@example.com"
