"""The notice a company's admins get when a mailbox connection breaks, in its provider's words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.notice_text import BrokenConnection, auth_broken_notice, notice_message_id

BROKEN_AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def notice(reason: str = BrokenReason.REVOKED, *, default: bool = False) -> str:
    broken = BrokenConnection(
        company_name="Acme Ltd",
        address="billing@acme.example",
        reason=reason,
        broken_at=BROKEN_AT,
        default_while_broken=default,
        default_address="no-reply@mailroute.example",
    )
    return auth_broken_notice(broken, "https://mail.example/").text


def test_the_notice_names_the_account_when_why_the_fix_and_that_no_more_will_come() -> None:
    text = notice()
    assert "billing@acme.example" in text
    assert "2026-11-03 09:30 UTC" in text
    assert explain(BrokenReason.REVOKED) in text
    assert "fails with the error gmail_not_connected" in text
    assert "https://mail.example/settings/email" in text
    assert "Re-authorize Sync" in text
    assert "This is the only notice for this break" in text


@pytest.mark.parametrize("reason", list(BrokenReason))
def test_every_reason_is_said_in_plain_words(reason: BrokenReason) -> None:
    assert explain(reason) in notice(reason)


def test_a_company_that_sends_from_the_default_address_meanwhile_is_told_so() -> None:
    text = notice(default=True)
    assert "from the default address no-reply@mailroute.example instead" in text
    assert "gmail_not_connected" not in text


def test_the_html_part_links_the_settings_page_and_escapes_text() -> None:
    broken = BrokenConnection("A <b> & Co", "x@y.example", "revoked", BROKEN_AT)
    html = auth_broken_notice(broken, "https://mail.example").html
    assert '<a href="https://mail.example/settings/email">' in html
    assert "A &lt;b&gt; &amp; Co" in html


def test_the_notice_message_id_is_stable_per_break() -> None:
    assert notice_message_id("c1", 3, "mailroute.example") == notice_message_id(
        "c1", 3, "mailroute.example"
    )
    assert notice_message_id("c1", 3, "m.example") != notice_message_id("c1", 4, "m.example")


def test_a_microsoft_mailbox_notice_speaks_of_microsoft_and_its_own_error_code() -> None:
    broken = BrokenConnection(
        company_name="Acme Ltd",
        address="billing@acme.onmicrosoft.example",
        reason=BrokenReason.INACTIVE,
        broken_at=BROKEN_AT,
        provider="microsoft",
    )
    notice_ = auth_broken_notice(broken, "https://mail.example/")
    assert notice_.subject.startswith("Action needed: Microsoft 365 billing@acme")
    assert "the Microsoft 365 account billing@acme.onmicrosoft.example" in notice_.text
    assert explain(BrokenReason.INACTIVE, "microsoft") in notice_.text
    assert "fails with the error microsoft_not_connected" in notice_.text
    assert "signing in with the same Microsoft account" in notice_.text
    assert "Gmail" not in notice_.text
    assert "Google" not in notice_.text
    assert notice_message_id("c1", 2, "m.example", "microsoft").startswith("<microsoft-broken-")
