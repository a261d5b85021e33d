"""A Gmail token no configured key decrypts (a key removed from TOKEN_ENCRYPTION_KEYS before
`mailroute tokens reencrypt` ran) breaks the connection through the one break path, with a
reason that says so, once however many sends find out; its emails fail `gmail_not_connected`,
never stuck `sending` and never silently sent from the default address. No I/O."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from mailroute.adapters.db.connection_transitions import AUTH_BROKEN
from mailroute.config.settings import Settings
from mailroute.core.connection import BrokenReason, explain
from mailroute.core.errors import TokenDecryptionError
from mailroute.core.notice_text import BrokenConnection, auth_broken_notice
from mailroute.core.ports import Envelope, ProviderReceipt
from mailroute.core.records import Company
from mailroute.services.dispatching import route_stored
from mailroute.services.intake import Intake
from mailroute.services.sending import send_stored_email
from tests.fakes import FakeTransport, InMemory, email_request, make_dependencies

GMAIL = "billing@acme.example"


class _UnreadableToken(FakeTransport):
    """Gmail's transport when the stored token cannot be decrypted: it never reaches Google."""

    def __init__(self, together: int = 1) -> None:
        super().__init__()
        self._all_in = threading.Barrier(together, timeout=10)

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        self._all_in.wait()
        raise TokenDecryptionError("no configured key decrypts this token")


def _ready(fakes: InMemory, company: Company) -> str:
    intake = Intake(
        fakes.companies, fakes.emails, fakes.outbox, fakes.queue, Settings().max_email_bytes
    )
    email_id = intake.accept(email_request(company.id, sender="gmail")).email_id
    route_stored(email_id, make_dependencies(fakes))
    return email_id


def test_sends_that_find_the_token_unreadable_break_the_connection_once_and_fail() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    emails = [_ready(fakes, company) for _ in range(8)]
    fakes.gmail.accounts[account.id] = _UnreadableToken(together=len(emails))
    deps = make_dependencies(fakes)

    with ThreadPoolExecutor(len(emails)) as pool:
        statuses = list(
            pool.map(
                lambda e: send_stored_email(e, route="gmail", claim_key=f"m-{e}", deps=deps),
                emails,
            )
        )

    assert statuses == ["failed"] * len(emails)
    assert (account.state, account.broken_reason) == ("not_connected", "token_unreadable")
    [broken] = fakes.outbox.events(AUTH_BROKEN)
    assert (broken["reason"], broken["address"]) == ("token_unreadable", GMAIL)
    assert len(fakes.notices.rows) == 1
    for email_id in emails:
        row = fakes.emails.row(email_id)
        assert (row.status, row.error_code, row.route) == ("failed", "gmail_not_connected", "gmail")
        assert GMAIL in (row.error_message or "")
    assert fakes.smtp.attempts == 0  # never switched to the default sender


def test_a_company_that_chose_the_default_address_meanwhile_gets_it_not_a_stuck_send() -> None:
    fakes = InMemory()
    company = fakes.companies.add(default_while_gmail_broken=True)
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    email_id = _ready(fakes, company)
    fakes.gmail.accounts[account.id] = _UnreadableToken()
    deps = make_dependencies(fakes)

    status = send_stored_email(email_id, route="gmail", claim_key="m", deps=deps)

    assert status == "rerouted"
    assert fakes.emails.row(email_id).route == "default"
    assert account.broken_reason == "token_unreadable"


def test_the_notice_and_the_page_say_the_stored_token_cannot_be_read() -> None:
    words = explain(BrokenReason.TOKEN_UNREADABLE)
    assert "can no longer read the stored Google authorization" in words
    notice = auth_broken_notice(
        BrokenConnection("Acme Ltd", GMAIL, "token_unreadable", broken_at=datetime.now(UTC)),
        "https://mail.example",
    )
    assert words in notice.text
    assert "Nothing changed in the Google account" in notice.text
    assert "Re-authorize Sync" in notice.text


@pytest.mark.parametrize("reason", list(BrokenReason))
def test_no_line_of_the_notice_is_longer_than_a_mail_server_takes(reason: BrokenReason) -> None:
    """RFC 5322 caps a line at 998 characters, and mail servers refuse longer ones: the
    notice's html part once held every paragraph on one line."""
    broken = BrokenConnection(
        "A" * 200,  # the longest company name
        f"{'b' * 60}@{'c' * 60}.example",
        reason,
        broken_at=datetime.now(UTC),
        default_while_broken=reason == BrokenReason.REVOKED,
        default_address="no-reply@mailroute.example",
    )
    notice = auth_broken_notice(broken, "https://mail.example")
    for part in (notice.text, notice.html):
        assert max(len(line) for line in part.splitlines()) <= 998
