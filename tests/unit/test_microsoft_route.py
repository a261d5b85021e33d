"""Microsoft 365 on the same path as Gmail, decided on the in-memory fakes: routing by provider
and by the company's primary mailbox, the failure of a broken connection and its retry after
Re-authorize, the send and its "submitted" outcome, the door's message-size rule, and pacing
that counts recipients. No I/O."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import pytest

from mailroute.core.pacing import (
    DailyCapReached,
    PacingPolicy,
    SendStart,
    day_bucket,
    microsoft_policy,
    send_weight,
    why_refused,
)
from mailroute.core.records import Company
from mailroute.events import InvalidEventError, queues
from mailroute.services.breaks import break_connection
from mailroute.services.dispatching import retry_failed_while_not_connected, route_stored
from mailroute.services.intake import Intake
from mailroute.services.sending import send_stored_email
from tests.fakes import InMemory, email_request, make_dependencies

GMAIL = "billing@acme.example"
OUTLOOK = "billing@contoso.example"


def _accept(fakes: InMemory, company: Company, **fields: object) -> str:
    intake = Intake(fakes.companies, fakes.emails, fakes.outbox, fakes.queue, 25 * 1024 * 1024)
    email_id = intake.accept(email_request(company.id, **fields)).email_id
    route_stored(email_id, make_dependencies(fakes))
    return email_id


def _with_primary(fakes: InMemory, company: Company, primary: str | None) -> Company:
    chosen = dataclasses.replace(company, primary_provider=primary)
    fakes.companies.companies[company.id] = chosen
    return chosen


def test_sender_microsoft_is_queued_on_the_microsoft_queue_from_the_mailbox_address() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    fakes.companies.connect_gmail(company.id, GMAIL)
    fakes.companies.connect_microsoft(company.id, OUTLOOK)

    email_id = _accept(fakes, company, sender="microsoft")

    row = fakes.emails.row(email_id)
    assert (row.status, row.route, row.from_address) == (
        "queued",
        "microsoft",
        f"Acme Ltd <{OUTLOOK}>",
    )
    assert [(m.queue, m.actor) for m in fakes.queue.messages] == [
        (queues.MICROSOFT, queues.SEND_VIA_MICROSOFT)
    ]


@pytest.mark.parametrize(
    ("primary", "route"), [(None, "gmail"), ("microsoft", "microsoft"), ("gmail", "gmail")]
)
def test_auto_sends_from_the_primary_mailbox_else_the_first_registered(
    primary: str | None, route: str
) -> None:
    fakes = InMemory()
    company = _with_primary(fakes, fakes.companies.add(), primary)
    fakes.companies.connect_gmail(company.id, GMAIL)
    fakes.companies.connect_microsoft(company.id, OUTLOOK)

    assert fakes.emails.row(_accept(fakes, company, sender="auto")).route == route


def test_auto_with_a_primary_that_is_not_connected_uses_the_mailbox_that_is() -> None:
    fakes = InMemory()
    company = _with_primary(fakes, fakes.companies.add(), "gmail")
    fakes.companies.connect_microsoft(company.id, OUTLOOK)

    assert fakes.emails.row(_accept(fakes, company, sender="auto")).route == "microsoft"


def test_a_broken_microsoft_mailbox_fails_its_emails_and_they_go_again_after_reauthorize() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_microsoft(company.id, OUTLOOK)
    fakes.companies.connect_gmail(company.id, GMAIL)  # untouched by the Microsoft break
    assert break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=account.generation,
        reason="revoked",
        correlation_id="check",
    )

    email_id = _accept(fakes, company, sender="microsoft")

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "microsoft_not_connected")
    assert OUTLOOK in (row.error_message or "")
    assert row.broken_generation == account.generation
    assert len(fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)) == 1

    account.state, account.generation = "active", account.generation + 1  # re-authorized
    assert retry_failed_while_not_connected(company.id, make_dependencies(fakes)) == 1
    assert fakes.emails.row(email_id).route == "microsoft"


def test_a_microsoft_send_is_recorded_as_submitted_with_no_provider_id() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_microsoft(company.id, OUTLOOK)
    email_id = _accept(fakes, company, sender="microsoft", bcc=["Audit <audit@acme.example>"])

    deps = make_dependencies(fakes)
    assert send_stored_email(email_id, route="microsoft", claim_key="m-1", deps=deps) == "sent"

    [handed] = fakes.microsoft_mailboxes.account(account.id).accepted
    assert b"Bcc: Audit <audit@acme.example>" in handed.message  # Graph takes Bcc from the MIME
    assert fakes.microsoft_mailboxes.pinned == [(account.id, account.generation)]
    [sent] = fakes.outbox.events("email.sent")
    assert (sent["route"], sent["provider_message_id"], sent["submitted_only"]) == (
        "microsoft",
        None,
        True,
    )


def test_the_door_refuses_a_message_over_microsofts_35_mb_for_the_microsoft_sender() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    intake = Intake(fakes.companies, fakes.emails, fakes.outbox, fakes.queue, 60 * 1024 * 1024)
    content = base64.b64encode(b"x" * (27 << 20)).decode()
    big = {"filename": "scan.pdf", "content_type": "application/pdf", "content_base64": content}

    with pytest.raises(InvalidEventError) as refused:
        intake.validate(email_request(company.id, sender="microsoft", attachments=[big]))

    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("attachments", "max_message_size")
    assert "35 MB" in str(problem)
    intake.validate(email_request(company.id, sender="default", attachments=[big]))


def test_a_microsoft_message_counts_its_recipients_against_the_daily_cap() -> None:
    assert send_weight(5, counts_recipients=True, daily_cap=10_000) == 5
    assert send_weight(5, counts_recipients=False, daily_cap=500) == 1
    assert send_weight(20_000, counts_recipients=True, daily_cap=10_000) == 10_000

    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    policy = PacingPolicy(daily_cap=10)
    nearly_full = SendStart(False, 0, {day_bucket(now): 8}, now)
    assert isinstance(why_refused(nearly_full, policy, weight=3), DailyCapReached)
    assert not isinstance(why_refused(nearly_full, policy, weight=2), DailyCapReached)


def test_the_microsoft_policy_stays_under_exchanges_30_messages_a_minute() -> None:
    policy = microsoft_policy()
    assert policy.most_sends_in_a_minute() <= 30
    assert policy.sends_per_minute >= 0.9 * 30
    assert (policy.max_concurrent, policy.daily_cap) == (4, 10_000)
