"""The one advance notice that a mailbox's authorization ends soon, in its provider's words."""

from __future__ import annotations

from datetime import UTC, datetime

from mailroute.core.expiry_notice_text import (
    EndingConnection,
    expiry_notice,
    expiry_notice_message_id,
)

ENDS = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


def _notice(provider: str = "gmail") -> tuple[str, str, str]:
    text = expiry_notice(
        EndingConnection(
            company_name="Acme Ltd",
            address="billing@acme.example",
            expires_at=ENDS,
            provider=provider,
        ),
        "https://mail.example/",
    )
    return text.subject, text.text, text.html


def test_the_notice_says_which_mailbox_what_happens_when_and_to_re_authorize_before() -> None:
    subject, text, _ = _notice()

    assert "billing@acme.example" in subject
    assert "2026-12-08 09:30 UTC" in subject
    assert "Gmail account billing@acme.example ends on 2026-12-08 09:30 UTC" in text
    assert "fails with the error gmail_not_connected" in text
    assert "What to do before 2026-12-08 09:30 UTC" in text
    assert "https://mail.example/settings/email" in text
    assert "Re-authorize" in text
    assert "same Google account" in text
    assert "only advance notice" in text


def test_the_notice_speaks_of_microsoft_365_in_its_own_words() -> None:
    subject, text, _ = _notice("microsoft")

    assert "Microsoft 365 billing@acme.example" in subject
    assert "microsoft_not_connected" in text
    assert "same Microsoft account" in text


def test_the_html_links_the_settings_page_and_escapes_what_it_quotes() -> None:
    text = expiry_notice(
        EndingConnection(company_name="A <b>&</b> Co", address="x@y.example", expires_at=ENDS),
        "https://mail.example",
    )

    assert '<a href="https://mail.example/settings/email">' in text.html
    assert "A &lt;b&gt;&amp;&lt;/b&gt; Co" in text.html
    assert all(len(line) < 998 for line in text.html.splitlines())


def test_every_attempt_at_one_notice_carries_the_same_message_id() -> None:
    first = expiry_notice_message_id("c1", 3, "mailroute.example")

    assert first == expiry_notice_message_id("c1", 3, "mailroute.example")
    assert first != expiry_notice_message_id("c1", 4, "mailroute.example")
    assert "broken" not in first
