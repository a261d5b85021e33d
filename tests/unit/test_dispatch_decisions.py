"""Dispatch and intake, decided on the in-memory fakes: where each email goes, what is stored,
what is queued, which outcome events are written. No I/O.

Both doors into dispatch are exercised: an email the intake stored (its id on the queue,
`route_stored`) and a producer's raw `EmailRequested` (`dispatch_requested`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailroute.config.settings import Settings
from mailroute.core.errors import BrokerUnavailableError, PermanentError
from mailroute.core.records import Company
from mailroute.events import queues
from mailroute.services.breaks import break_connection
from mailroute.services.dead_letters import fail_refused_task
from mailroute.services.dispatching import (
    RetryRefused,
    redispatch_failed,
    retry_failed_while_not_connected,
    route_stored,
)
from mailroute.services.intake import PUBLISH_INLINE_BYTES, Intake
from mailroute.services.requested import (
    DispatchOutcome,
    UnreadableMessageError,
    dispatch_requested,
)
from mailroute.services.sending import send_stored_email
from tests.fakes import InMemory, email_request, make_dependencies

GMAIL = "billing@acme.example"
DOORS = ["stored", "raw"]


def _intake(fakes: InMemory) -> Intake:
    max_bytes = Settings.from_env({}).max_email_bytes
    return Intake(fakes.companies, fakes.emails, fakes.outbox, fakes.queue, max_bytes)


def _dispatch(fakes: InMemory, company: Company, door: str, **fields: Any) -> str:
    """One email through one door into dispatch; its id."""
    request = email_request(company.id, **fields)
    deps = make_dependencies(fakes)
    if door == "stored":
        email_id = _intake(fakes).accept(request).email_id
        route_stored(email_id, deps)
        return email_id
    outcome = dispatch_requested(
        request.to_wire(),
        deps,
        message_id="message-1",
        correlation_id="message-1",
        queue=queues.DISPATCH,
        actor=queues.DISPATCH_EMAIL,
    )
    return outcome.email_id


def _queued(fakes: InMemory) -> list[tuple[str, str, tuple[Any, ...]]]:
    return [(m.queue, m.actor, m.args) for m in fakes.queue.messages]


def _broken_gmail(fakes: InMemory, company: Company) -> str:
    """The company's Gmail, connected and then broken by the one break path; its id."""
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    broken = break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=account.generation,
        reason="revoked",
        correlation_id="connection-check",
    )
    assert broken is not None
    return account.id


@pytest.mark.parametrize("door", DOORS)
def test_an_email_for_the_default_sender_is_queued_on_smtp_from_the_default_address(
    door: str,
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    fakes.companies.connect_gmail(company.id, GMAIL)

    email_id = _dispatch(fakes, company, door, sender="default")

    row = fakes.emails.row(email_id)
    assert (row.status, row.route) == ("queued", "default")
    assert row.from_address == "Acme Ltd <no-reply@mailroute.localhost>"
    assert _queued(fakes) == [(queues.SMTP, queues.SEND_VIA_SMTP, (email_id,))]


@pytest.mark.parametrize("door", DOORS)
def test_auto_with_an_active_gmail_is_queued_on_gmail_from_the_gmail_address(door: str) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    fakes.companies.connect_gmail(company.id, GMAIL)

    email_id = _dispatch(fakes, company, door, sender="auto")

    row = fakes.emails.row(email_id)
    assert (row.status, row.route) == ("queued", "gmail")
    assert row.from_address == f"Acme Ltd <{GMAIL}>"
    assert row.message_id == f"<{email_id}@acme.example>"
    assert _queued(fakes) == [(queues.GMAIL, queues.SEND_VIA_GMAIL, (email_id,))]


@pytest.mark.parametrize("door", DOORS)
def test_auto_without_a_gmail_connection_goes_to_the_default_sender(door: str) -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    email_id = _dispatch(fakes, company, door, sender="auto")

    assert fakes.emails.row(email_id).route == "default"
    assert _queued(fakes) == [(queues.SMTP, queues.SEND_VIA_SMTP, (email_id,))]


@pytest.mark.parametrize("door", DOORS)
def test_gmail_with_a_broken_connection_fails_naming_the_account_and_asks_for_no_new_notice(
    door: str,
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _broken_gmail(fakes, company)
    notify_tasks = len(fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE))

    email_id = _dispatch(fakes, company, door, sender="gmail")

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "gmail_not_connected")
    assert row.error_message is not None
    assert f"Gmail account {GMAIL} is not connected" in row.error_message
    assert row.broken_generation == 1
    [failed] = [r for r in fakes.outbox.rows if r.routing_key == "email.failed"]
    assert (failed.payload["email_id"], failed.payload["error_code"]) == (
        email_id,
        "gmail_not_connected",
    )
    assert failed.id in fakes.outbox.published
    assert fakes.queue.messages == []
    assert len(fakes.notices.rows) == 1  # the break's own notice, no second one
    assert len(fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)) == notify_tasks == 1


@pytest.mark.parametrize("door", DOORS)
def test_a_company_that_chose_the_default_sender_while_gmail_is_broken_goes_to_smtp(
    door: str,
) -> None:
    fakes = InMemory()
    company = fakes.companies.add(default_while_gmail_broken=True)
    fakes.companies.connect_gmail(company.id, GMAIL, state="not_connected")

    email_id = _dispatch(fakes, company, door, sender="gmail")

    row = fakes.emails.row(email_id)
    assert (row.status, row.route, row.error_code) == ("queued", "default", None)
    assert row.from_address == "Acme Ltd <no-reply@mailroute.localhost>"
    assert _queued(fakes) == [(queues.SMTP, queues.SEND_VIA_SMTP, (email_id,))]


def test_an_accepted_email_routed_twice_is_moved_once_and_queued_again_only_while_queued() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    deps = make_dependencies(fakes)
    email_id = _intake(fakes).accept(email_request(company.id, sender="default")).email_id

    first = route_stored(email_id, deps)
    redelivered = route_stored(email_id, deps)

    assert first == DispatchOutcome(email_id, "queued", "default", created=True)
    assert redelivered == DispatchOutcome(email_id, "queued", "default", created=False)
    assert _queued(fakes) == [(queues.SMTP, queues.SEND_VIA_SMTP, (email_id,))] * 2

    assert send_stored_email(email_id, route="default", claim_key="m-1", deps=deps) == "sent"
    late = route_stored(email_id, deps)

    assert late == DispatchOutcome(email_id, "sent", "default", created=False)
    assert len(fakes.queue.messages) == 2
    assert len(fakes.smtp.accepted) == 1


def test_an_email_that_failed_at_routing_and_is_routed_again_writes_one_failure() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _broken_gmail(fakes, company)
    deps = make_dependencies(fakes)
    email_id = _intake(fakes).accept(email_request(company.id, sender="gmail")).email_id

    route_stored(email_id, deps)
    again = route_stored(email_id, deps)

    assert again == DispatchOutcome(email_id, "failed", None, created=False)
    assert len(fakes.outbox.events("email.failed")) == 1
    assert fakes.queue.messages == []


def test_a_raw_event_delivered_twice_is_stored_once_and_failed_once() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _broken_gmail(fakes, company)
    request = email_request(company.id, sender="gmail")
    deps = make_dependencies(fakes)

    outcomes = [
        dispatch_requested(
            request.to_wire(),
            deps,
            message_id="message-1",
            correlation_id="message-1",
            queue=queues.DISPATCH,
            actor=queues.DISPATCH_EMAIL,
        )
        for _ in range(2)
    ]

    assert [o.created for o in outcomes] == [True, False]
    assert len(fakes.emails.rows) == 1
    assert len(fakes.outbox.events("email.failed")) == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not JSON"),
        (["a", "list"], "an event is a JSON object"),
        ({"type": "AuthBroken", "schema_version": 1}, "expected a EmailRequested event"),
        ({"type": "EmailRequested", "event_id": "e1", "subject": "Hi"}, "company_id"),
        ("unknown company", "no company"),
    ],
)
def test_an_unreadable_raw_event_is_recorded_and_never_retried(raw: Any, reason: str) -> None:
    fakes = InMemory()
    if raw == "unknown company":
        raw = email_request("00000000-0000-4000-8000-000000000000").to_wire()

    with pytest.raises(UnreadableMessageError) as raised:
        dispatch_requested(
            raw,
            make_dependencies(fakes),
            message_id="message-9",
            correlation_id="message-9",
            queue=queues.DISPATCH,
            actor=queues.DISPATCH_EMAIL,
        )

    assert isinstance(raised.value, PermanentError)
    [rejected] = fakes.emails.rejected
    assert (rejected["queue"], rejected["actor"], rejected["message_id"]) == (
        queues.DISPATCH,
        queues.DISPATCH_EMAIL,
        "message-9",
    )
    assert reason in rejected["reason"]
    assert fakes.emails.rows == {}
    assert fakes.queue.messages == []


def test_the_correlation_id_of_the_stored_email_is_passed_on_to_the_send_message() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    deps = make_dependencies(fakes)
    accepted = _intake(fakes).accept(email_request(company.id), correlation_id="order-42")

    route_stored(accepted.email_id, deps)
    route_stored(accepted.email_id, deps)  # a redelivery queues it again, with the same id

    assert [m.correlation_id for m in fakes.queue.messages] == ["order-42", "order-42"]
    assert fakes.outbox.tasks(queues.ROUTE_EMAIL)[0].correlation_id == "order-42"


def test_a_raw_event_redelivered_with_another_message_keeps_the_first_correlation_id() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    wire = email_request(company.id).to_wire()
    deps = make_dependencies(fakes)

    for message_id in ("message-1", "message-2"):
        dispatch_requested(
            wire,
            deps,
            message_id=message_id,
            correlation_id=f"corr-{message_id}",
            queue=queues.DISPATCH,
            actor=queues.DISPATCH_EMAIL,
        )

    assert [m.correlation_id for m in fakes.queue.messages] == ["corr-message-1"] * 2


def test_emails_that_failed_while_gmail_was_broken_are_sent_again_after_reauthorization() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _broken_gmail(fakes, company)
    deps = make_dependencies(fakes)
    email_id = _dispatch(fakes, company, "stored", sender="gmail")
    message_id = fakes.emails.row(email_id).message_id
    fakes.companies.reauthorize(company.id)

    assert retry_failed_while_not_connected(company.id, deps) == 1

    row = fakes.emails.row(email_id)
    assert (row.status, row.route, row.attempts, row.error_code) == ("queued", "gmail", 0, None)
    assert row.message_id == message_id
    assert _queued(fakes) == [(queues.GMAIL, queues.SEND_VIA_GMAIL, (email_id,))]
    assert retry_failed_while_not_connected(company.id, deps) == 0


def test_an_email_that_has_not_failed_is_not_sent_again() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _dispatch(fakes, company, "stored", sender="default")

    refused = redispatch_failed(email_id, company.id, make_dependencies(fakes))

    assert isinstance(refused, RetryRefused)
    assert (refused.status, refused.code) == (409, "not_failed")
    assert len(fakes.queue.messages) == 1


# Intake: the door every email comes through, and what the relay does with a refused task.


@pytest.mark.parametrize("actor", [queues.ROUTE_EMAIL, queues.SEND_VIA_SMTP])
def test_a_task_the_broker_refused_fails_its_email_with_broker_refused(actor: str) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _intake(fakes).accept(email_request(company.id)).email_id

    fail_refused_task(fakes.emails, fakes.outbox, actor, [email_id], "406 message too large")

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "broker_refused")
    assert row.error_message is not None
    assert "406 message too large" in row.error_message
    [failed] = [r for r in fakes.outbox.rows if r.routing_key == "email.failed"]
    assert failed.payload["error_code"] == "broker_refused"
    assert failed.id in fakes.outbox.published


@pytest.mark.parametrize(
    ("actor", "args"),
    [
        (queues.NOTIFY_ADMINS_ONCE, [{"type": "AuthBroken"}]),
        (queues.ROUTE_EMAIL, []),
        (queues.ROUTE_EMAIL, [{"email_id": "not a bare id"}]),
        (None, ["an event row, not a task"]),
    ],
)
def test_a_refused_task_that_carries_no_email_id_changes_nothing(
    actor: str | None, args: list[Any]
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _intake(fakes).accept(email_request(company.id)).email_id
    rows = len(fakes.outbox.rows)

    fail_refused_task(fakes.emails, fakes.outbox, actor, args, "406 message too large")

    assert fakes.emails.row(email_id).status == "accepted"
    assert len(fakes.outbox.rows) == rows


def test_a_refusal_that_comes_after_the_email_was_sent_leaves_it_sent() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    deps = make_dependencies(fakes)
    email_id = _dispatch(fakes, company, "stored", sender="default")
    send_stored_email(email_id, route="default", claim_key="m-1", deps=deps)

    fail_refused_task(fakes.emails, fakes.outbox, queues.SEND_VIA_SMTP, [email_id], "406")

    assert fakes.emails.row(email_id).status == "sent"
    assert fakes.outbox.events("email.failed") == []


def _sized(company: Company, size: int) -> dict[str, Any]:
    """An EmailRequested (as `publish` gets it) whose wire JSON is exactly `size` characters."""
    data: dict[str, Any] = email_request(company.id, correlation_id="corr-1", text="x").to_wire()
    without_text = len(json.dumps(data, separators=(",", ":"))) - 1
    return {**data, "text": "x" * (size - without_text)}


def test_publish_puts_an_event_of_at_most_the_inline_limit_on_the_dispatch_queue() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    accepted = _intake(fakes).publish(_sized(company, PUBLISH_INLINE_BYTES))

    [message] = fakes.queue.messages
    assert (message.queue, message.actor, message.correlation_id) == (
        queues.DISPATCH,
        queues.DISPATCH_EMAIL,
        "corr-1",
    )
    assert message.args[0]["event_id"] == accepted.event_id
    assert fakes.emails.rows == {}
    assert fakes.outbox.rows == []
    assert fakes.companies.lookups == 1


def test_publish_stores_an_event_over_the_inline_limit_and_queues_only_its_id() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    accepted = _intake(fakes).publish(_sized(company, PUBLISH_INLINE_BYTES + 1))

    assert fakes.emails.row(accepted.email_id).status == "accepted"
    [task] = fakes.outbox.tasks(queues.ROUTE_EMAIL)
    assert (task.args, task.correlation_id) == ([accepted.email_id], "corr-1")
    assert fakes.outbox.published == [task.id]
    assert fakes.queue.messages == []


def test_publish_validates_an_event_over_the_inline_limit_once() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    _intake(fakes).publish(_sized(company, PUBLISH_INLINE_BYTES + 1))

    assert fakes.companies.lookups == 1


def test_publish_while_the_broker_cannot_confirm_raises_and_accepts_nothing() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    fakes.queue.unavailable = True

    with pytest.raises(BrokerUnavailableError):
        _intake(fakes).publish(email_request(company.id))

    assert fakes.emails.rows == {}
    assert fakes.outbox.rows == []
