"""The notice of a broken Gmail connection, decided on the in-memory fakes: the break opens it
and writes the notify task carrying its `AuthBroken`; each delivery of that task sends the
notice unless it went out already. No I/O."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.errors import ProviderUnavailableError
from mailroute.core.records import Company
from mailroute.events import queues
from mailroute.services.breaks import break_connection
from mailroute.services.notify import notify_of_break
from tests.fakes import GmailAccount, InMemory, make_dependencies

GMAIL = "billing@acme.example"


def _broken(
    fakes: InMemory, reason: str = BrokenReason.REVOKED, **company: Any
) -> tuple[Company, GmailAccount, Any]:
    """A company whose Gmail broke; the `AuthBroken` the notify task carries."""
    added = fakes.companies.add(admins=("owner@acme.example", "cfo@acme.example"), **company)
    account = fakes.companies.connect_gmail(added.id, GMAIL)
    account.connected_by = "clerk@acme.example"
    break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=account.generation,
        reason=reason,
        correlation_id="send-of-invoice-42",
    )
    [task] = fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)
    return added, account, task.args[0]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_an_auth_broken_delivered_twice_sends_one_notice_to_the_admins() -> None:
    fakes = InMemory()
    _, _, event = _broken(fakes)
    deps = make_dependencies(fakes)

    outcomes = [notify_of_break(event, None, deps) for _ in range(2)]

    assert outcomes == ["sent", "already_sent"]
    [handed] = fakes.smtp.accepted
    assert handed.envelope.recipients == (
        "cfo@acme.example",
        "clerk@acme.example",
        "owner@acme.example",
    )
    assert handed.envelope.mail_from == "no-reply@mailroute.localhost"
    [notice] = fakes.notices.rows.values()
    assert (notice.status, notice.attempts) == ("sent", 1)


def test_a_notice_whose_send_fails_transiently_stays_pending_and_goes_out_next_time() -> None:
    fakes = InMemory()
    _, _, event = _broken(fakes)
    deps = make_dependencies(fakes)
    fakes.smtp.fail_next(ProviderUnavailableError("421 4.3.2 try again later"))

    with pytest.raises(ProviderUnavailableError):
        notify_of_break(event, None, deps)
    [notice] = fakes.notices.rows.values()
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert notice.last_error == "provider_unavailable: 421 4.3.2 try again later"

    outcomes = [notify_of_break(event, None, deps) for _ in range(2)]

    assert outcomes == ["sent", "already_sent"]
    assert len(fakes.smtp.accepted) == 1
    [notice] = fakes.notices.rows.values()
    assert (notice.status, notice.attempts, notice.last_error) == ("sent", 2, None)


def test_the_same_notice_keeps_its_message_id_across_attempts() -> None:
    fakes = InMemory()
    _, account, event = _broken(fakes)
    deps = make_dependencies(fakes)
    fakes.smtp.fail_next(ProviderUnavailableError("connection dropped"))
    with pytest.raises(ProviderUnavailableError):
        notify_of_break(event, None, deps)

    notify_of_break(event, None, deps)

    [handed] = fakes.smtp.accepted
    assert handed.parsed["Message-ID"].strip() == (  # long enough to be folded
        f"<gmail-broken-{account.id}-{account.generation}@mailroute.localhost>"
    )


def test_a_message_of_the_earlier_release_carrying_connection_and_generation_is_read_too() -> None:
    fakes = InMemory()
    _, account, _ = _broken(fakes)
    deps = make_dependencies(fakes)

    outcomes = [notify_of_break(account.id, account.generation, deps) for _ in range(2)]

    assert outcomes == ["sent", "already_sent"]
    assert len(fakes.smtp.accepted) == 1


def test_the_notice_names_the_account_the_company_and_the_reason_of_the_break() -> None:
    fakes = InMemory()
    company, _, event = _broken(fakes, BrokenReason.PASSWORD_CHANGED, name="Acme Ltd")

    notify_of_break(event, None, make_dependencies(fakes))

    [handed] = fakes.smtp.accepted
    message = handed.parsed
    assert message["Subject"] == f"Action needed: Gmail {GMAIL} is not connected ({company.name})"
    text = _text(message)
    assert f"the Gmail account {GMAIL} that Acme Ltd sends its email through" in text
    assert explain(BrokenReason.PASSWORD_CHANGED) in text
    assert "fails with the error gmail_not_connected" in text
    assert "http://127.0.0.1:8000/settings/email" in text


def test_a_company_sending_from_the_default_address_meanwhile_is_told_so() -> None:
    fakes = InMemory()
    _, _, event = _broken(fakes, default_while_gmail_broken=True)

    notify_of_break(event, None, make_dependencies(fakes))

    text = _text(fakes.smtp.accepted[0].parsed)
    assert "from the default address no-reply@mailroute.localhost instead" in text


def test_a_break_that_opened_no_notice_sends_nothing() -> None:
    fakes = InMemory()
    _, _, event = _broken(fakes)

    outcome = notify_of_break({**event, "generation": 7}, None, make_dependencies(fakes))

    assert outcome == "no_notice"
    assert fakes.smtp.attempts == 0


def test_a_connection_broken_again_after_reauthorization_notifies_again() -> None:
    fakes = InMemory()
    company, account, first = _broken(fakes)
    deps = make_dependencies(fakes)
    notify_of_break(first, None, deps)
    fakes.companies.reauthorize(company.id)
    break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=2,
        reason=BrokenReason.EXPIRED,
        correlation_id="connection-check",
    )
    second = fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)[-1].args[0]

    assert notify_of_break(second, None, deps) == "sent"

    assert len(fakes.smtp.accepted) == 2
    assert explain(BrokenReason.EXPIRED) in _text(fakes.smtp.accepted[1].parsed)
