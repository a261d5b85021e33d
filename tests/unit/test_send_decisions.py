"""Sending a stored email, decided on the in-memory fakes: claim, send, and what is recorded —
sent once, retried with a delay, failed with the provider's reply, or failed because the Gmail
connection broke (and broke once, however many sends found out). No I/O; no pacing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from mailroute.adapters.db.connection_transitions import AUTH_BROKEN, CONNECTION_CHANGED
from mailroute.adapters.db.email_claims import CLAIM_LEASE
from mailroute.config.settings import Settings
from mailroute.core.errors import (
    GmailAuthBrokenError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute.core.ports import Envelope, ProviderReceipt
from mailroute.core.records import Company
from mailroute.core.retry import RetryPolicy
from mailroute.events import queues
from mailroute.services.breaks import break_connection
from mailroute.services.dependencies import Dependencies
from mailroute.services.dispatching import route_stored
from mailroute.services.intake import Intake
from mailroute.services.sending import send_stored_email
from tests.fakes import FakeTransport, InMemory, email_request, make_dependencies

GMAIL = "billing@acme.example"
DEFAULT_FROM = "Acme Ltd <no-reply@mailroute.localhost>"


def _ready(fakes: InMemory, company: Company, sender: str = "default", **fields: Any) -> str:
    """An email accepted and routed (queued on its route), as dispatch leaves it; its id."""
    intake = Intake(
        fakes.companies, fakes.emails, fakes.outbox, fakes.queue, Settings().max_email_bytes
    )
    accepted = intake.accept(email_request(company.id, sender=sender, **fields))
    route_stored(accepted.email_id, make_dependencies(fakes))
    return accepted.email_id


def _send(deps: Dependencies, email_id: str, key: str, route: str = "default") -> str:
    return send_stored_email(email_id, route=route, claim_key=key, deps=deps)  # type: ignore[arg-type]


def test_a_claimed_email_is_sent_once_and_a_second_delivery_does_nothing() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company, bcc=["audit@acme.example"])
    deps = make_dependencies(fakes)

    assert _send(deps, email_id, "message-1") == "sent"
    assert _send(deps, email_id, "message-1") == "skipped"  # the same message, redelivered
    assert _send(deps, email_id, "message-2") == "skipped"  # a duplicate message

    row = fakes.emails.row(email_id)
    assert (row.status, row.attempts, row.possible_duplicate) == ("sent", 1, False)
    assert row.provider_message_id == "provider-1"
    [handed] = fakes.smtp.accepted
    assert handed.parsed["Message-ID"] == row.message_id
    assert handed.parsed["From"] == DEFAULT_FROM
    assert handed.parsed["Bcc"] is None  # SMTP takes Bcc on the envelope only
    assert handed.envelope == Envelope(
        "no-reply@mailroute.localhost", ("jane@example.com", "audit@acme.example")
    )
    [sent] = fakes.outbox.events("email.sent")
    assert (sent["email_id"], sent["route"], sent["possible_duplicate"]) == (
        email_id,
        "default",
        False,
    )


def test_our_own_message_redelivered_after_a_crash_mid_send_sends_and_is_flagged() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    fakes.emails.claim(email_id, "message-1", "default")  # the worker died after its claim

    assert _send(make_dependencies(fakes), email_id, "message-1") == "sent"

    row = fakes.emails.row(email_id)
    assert (row.status, row.attempts, row.possible_duplicate) == ("sent", 2, True)
    assert fakes.outbox.events("email.sent")[0]["possible_duplicate"] is True


def test_another_message_for_an_email_in_flight_waits_until_the_claim_expires() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    deps = make_dependencies(fakes)
    fakes.emails.claim(email_id, "message-1", "default")

    assert _send(deps, email_id, "message-2") == "skipped"
    assert fakes.smtp.attempts == 0

    later = datetime.now(UTC) + CLAIM_LEASE + timedelta(seconds=1)
    fakes.emails.clock = lambda: later
    assert _send(deps, email_id, "message-2") == "sent"
    assert fakes.emails.row(email_id).possible_duplicate is True


def test_a_transient_error_is_retried_with_a_delay_until_max_attempts_then_failed() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    deps = make_dependencies(fakes, retry_policy=RetryPolicy(max_attempts=3, base_seconds=2.0))
    fakes.smtp.fail_next(ProviderUnavailableError("421 4.3.2 try again later"), times=3)
    routed = len(fakes.queue.messages)

    first = _send(deps, email_id, "message-1")
    row = fakes.emails.row(email_id)
    assert (first, row.status, row.error_code, row.parked) == (
        "retrying",
        "retrying",
        "provider_unavailable",
        False,
    )
    statuses = [_send(deps, email_id, f"message-{n}") for n in (2, 3)]

    assert statuses == ["retrying", "failed"]
    retries = fakes.queue.messages[routed:]
    assert [(m.queue, m.args, m.correlation_id) for m in retries] == [
        (queues.SMTP, (email_id,), row.correlation_id)
    ] * 2
    assert 1.0 <= retries[0].delay_seconds <= 2.0  # backoff with jitter: base 2 s, doubling
    assert 2.0 <= retries[1].delay_seconds <= 4.0
    assert (row.status, row.attempts, row.error_code) == ("failed", 3, "provider_unavailable")
    assert row.error_message == "421 4.3.2 try again later (gave up after 3 attempts)"
    assert fakes.smtp.accepted == []
    [failed] = fakes.outbox.events("email.failed")
    assert failed["error_message"] == row.error_message


def test_a_transient_error_then_a_success_sends_the_email_on_the_retry() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    deps = make_dependencies(fakes)
    fakes.smtp.fail_next(ProviderUnavailableError("connection dropped"))

    statuses = [_send(deps, email_id, f"message-{n}") for n in (1, 2)]

    assert statuses == ["retrying", "sent"]
    row = fakes.emails.row(email_id)
    assert (row.status, row.attempts, row.error_code, row.error_message) == ("sent", 2, None, None)
    assert len(fakes.smtp.accepted) == 1


def test_a_retry_due_later_than_a_queue_may_hold_it_is_parked_for_the_clock() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    routed = len(fakes.queue.messages)
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    fakes.smtp.fail_next(ProviderBusyError("rate limited", retry_at=retry_at))

    assert _send(make_dependencies(fakes), email_id, "message-1") == "retrying"

    row = fakes.emails.row(email_id)
    assert (row.status, row.parked, row.error_code) == ("retrying", True, "provider_busy")
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= retry_at
    assert len(fakes.queue.messages) == routed  # no delayed message held by RabbitMQ


def test_a_permanent_error_fails_the_email_at_once_with_the_providers_reply() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _ready(fakes, company)
    routed = len(fakes.queue.messages)
    fakes.smtp.fail_next(ProviderRejectedError("550 5.1.1 <jane@example.com>: no such user"))

    assert _send(make_dependencies(fakes), email_id, "message-1") == "failed"

    row = fakes.emails.row(email_id)
    assert (row.status, row.attempts, row.error_code) == ("failed", 1, "provider_rejected")
    assert row.error_message == "550 5.1.1 <jane@example.com>: no such user"
    assert len(fakes.queue.messages) == routed
    assert fakes.smtp.attempts == 1
    assert len(fakes.outbox.events("email.failed")) == 1


def test_a_gmail_email_goes_through_its_own_connection_with_bcc_in_the_message() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL, generation=3)
    email_id = _ready(fakes, company, "gmail", bcc=["audit@acme.example"])

    assert _send(make_dependencies(fakes), email_id, "message-1", "gmail") == "sent"

    [handed] = fakes.gmail.account(account.id).accepted
    assert handed.parsed["From"] == f"Acme Ltd <{GMAIL}>"
    assert handed.parsed["Bcc"] == "audit@acme.example"  # the Gmail API takes Bcc from it
    assert handed.envelope.mail_from == GMAIL
    assert fakes.gmail.pinned == [(account.id, 3)]
    assert fakes.smtp.accepted == []
    assert fakes.emails.row(email_id).status == "sent"


def _auth_broken() -> GmailAuthBrokenError:
    return GmailAuthBrokenError("invalid_grant: Token has been revoked", reason="revoked")


def _assert_broken_once(fakes: InMemory, connection_id: str, emails: list[str]) -> None:
    """One break for all those emails: one AuthBroken, one change, one notice and its task;
    every email failed gmail_not_connected under the broken generation."""
    assert len(fakes.outbox.events(AUTH_BROKEN)) == 1
    assert len(fakes.outbox.events(CONNECTION_CHANGED)) == 1
    assert len(fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)) == 1
    assert [(n.status, n.reason) for n in fakes.notices.rows.values()] == [("pending", "revoked")]
    account = fakes.companies.account(connection_id)
    assert account is not None
    assert (account.state, account.broken_reason) == ("not_connected", "revoked")
    rows = [fakes.emails.row(email_id) for email_id in emails]
    assert {(r.status, r.error_code, r.broken_generation) for r in rows} == {
        ("failed", "gmail_not_connected", 1)
    }
    assert len(fakes.outbox.events("email.failed")) == len(emails)


def test_gmail_auth_broken_during_100_sends_breaks_the_connection_once() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    emails = [_ready(fakes, company, "gmail") for _ in range(100)]
    deps = make_dependencies(fakes)
    fakes.gmail.account(account.id).fail_next(_auth_broken(), times=100)

    statuses = [_send(deps, email_id, f"message-{email_id}", "gmail") for email_id in emails]

    assert statuses == ["failed"] * 100
    _assert_broken_once(fakes, account.id, emails)
    # The first send found out; every later claim saw the connection broken and sent nothing.
    assert fakes.gmail.account(account.id).attempts == 1


class _AllAtOnce(FakeTransport):
    """Lets no send through until `parties` sends are in flight together."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self._barrier = threading.Barrier(parties, timeout=10)

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        self._barrier.wait()
        return super().send(message, envelope)


def test_100_gmail_sends_in_flight_together_when_auth_breaks_break_the_connection_once() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    emails = [_ready(fakes, company, "gmail") for _ in range(100)]
    deps = make_dependencies(fakes)
    transport = fakes.gmail.accounts[account.id] = _AllAtOnce(len(emails))
    transport.fail_next(_auth_broken(), times=100)

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        statuses = list(pool.map(lambda e: _send(deps, e, f"message-{e}", "gmail"), emails))

    assert statuses == ["failed"] * 100
    assert transport.attempts == 100  # every one was claimed while the connection was active
    _assert_broken_once(fakes, account.id, emails)


def test_an_email_whose_connection_broke_before_its_claim_fails_without_sending() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    email_id = _ready(fakes, company, "gmail")
    break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=1,
        reason="revoked",
        correlation_id="connection-check",
    )

    assert _send(make_dependencies(fakes), email_id, "message-1", "gmail") == "failed"

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code, row.broken_generation) == (
        "failed",
        "gmail_not_connected",
        1,
    )
    assert row.error_message is not None
    assert GMAIL in row.error_message
    assert fakes.gmail.account(account.id).attempts == 0
    assert len(fakes.outbox.events(AUTH_BROKEN)) == 1  # the check's break; none of its own


def test_a_company_sending_from_the_default_address_while_broken_has_the_email_rerouted() -> None:
    fakes = InMemory()
    company = fakes.companies.add(default_while_gmail_broken=True)
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    email_id = _ready(fakes, company, "gmail")
    deps = make_dependencies(fakes)
    fakes.gmail.account(account.id).fail_next(_auth_broken())

    assert _send(deps, email_id, "message-1", "gmail") == "rerouted"

    row = fakes.emails.row(email_id)
    assert (row.status, row.route, row.from_address) == ("queued", "default", DEFAULT_FROM)
    rerouted = fakes.queue.messages[-1]
    assert (rerouted.queue, rerouted.args, rerouted.correlation_id) == (
        queues.SMTP,
        (email_id,),
        row.correlation_id,
    )
    assert len(fakes.outbox.events(AUTH_BROKEN)) == 1
    assert _send(deps, email_id, "message-2") == "sent"
    assert fakes.smtp.accepted[0].parsed["From"] == DEFAULT_FROM
