"""Every accepted email ends `sent` or `failed` with a reason, decided on the fakes: a message
that dies (on dramatiq's StubBroker, with the product's dead-letter middleware) fails the email
it carried, an inline request nobody stored is stored failed, a replay opens the email again,
a message that cannot be built fails at once, and the clock gives up on an email it re-drove
in vain. No I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from mailroute.adapters.db.email_claims import MAX_CLAIMS
from mailroute.adapters.rabbitmq.middleware import DeadLetterRecorder
from mailroute.core.abandoned import DeadLetter, Stalled, StallPolicy, email_of
from mailroute.core.errors import BrokerUnavailableError
from mailroute.core.model import Route, StoredAttachment
from mailroute.core.records import Claim, RouteTarget, StoreResult
from mailroute.events import EmailRequested, queues
from mailroute.services.dead_letters import end_dead_email, reopen_for_replay
from mailroute.services.sending import send_stored_email
from mailroute.services.sweeps import sweep_stalled
from tests.fakes import FakeEmails, FakeSweeps, InMemory, email_request, make_dependencies
from tests.unit.test_actors_on_stub_broker import (  # the StubBroker, its worker, helpers
    QUICK_RETRIES,
    _intake,
    _on_broker,
    _queued,
    _run,
    _send,
    broker,
    worker,
)

__all__ = ["broker", "worker"]  # fixtures, found by name
DEFAULT_FROM = "Acme Ltd <no-reply@mailroute.localhost>"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class _Failing(FakeEmails):
    """The emails record where one statement raises once `failing` names it: a bug, or data
    PostgreSQL refuses."""

    def __init__(self, fakes: InMemory) -> None:
        super().__init__(fakes.companies, fakes.outbox)
        fakes.emails = fakes.abandoned.emails = self
        self.failing: str | None = None
        self.error: Exception = RuntimeError("a bug")

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None:
        if self.failing == "claim":
            raise self.error
        return super().claim(email_id, claim_key, route)

    def route_target(self, email_id: str) -> RouteTarget | None:
        if self.failing == "route":
            raise self.error
        return super().route_target(email_id)

    def store(self, event: EmailRequested, **kwargs: Any) -> tuple[StoreResult, int | None]:
        # "store": the dispatcher's store raises, the failed record of the request does not.
        if self.failing == "store_all" or (self.failing == "store" and not kwargs.get("failure")):
            raise self.error
        return super().store(event, **kwargs)


def _ending_emails(broker: StubBroker, fakes: InMemory) -> list[DeadLetter]:
    """The product's dead-letter middleware (after Retries decided, as `build_broker` orders
    it), ending emails on the fakes as the worker's recorder does; returns what it saw."""
    seen: list[DeadLetter] = []

    def record(dead: DeadLetter) -> None:
        seen.append(dead)
        end_dead_email(
            dead,
            store=fakes.emails,
            abandoned=fakes.abandoned,
            outbox=fakes.outbox,
            default_from=DEFAULT_FROM,
        )

    broker.add_middleware(DeadLetterRecorder(record), before=Retries)
    _on_broker(fakes, broker)
    return seen


def _failed_event(fakes: InMemory, email_id: str) -> dict[str, Any]:
    [event] = [e for e in fakes.outbox.events("email.failed") if e["email_id"] == email_id]
    return event


def test_an_email_whose_send_keeps_raising_ends_failed_dead_lettered_with_its_event(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    emails = _Failing(fakes)
    email_id = _queued(fakes, fakes.companies.add())
    dead = _ending_emails(broker, fakes)
    emails.failing = "claim"

    message = _send(broker, queues.SEND_VIA_SMTP, email_id, **QUICK_RETRIES)
    _run(broker, worker, queues.SMTP)

    [letter] = dead
    assert (letter.message_id, letter.retries) == (message.message_id, 10)
    row = emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "dead_lettered")
    assert row.error_message is not None
    assert "sending it through the default sender, after 11 attempts" in row.error_message
    assert "RuntimeError: a bug" in row.error_message
    assert f"POST /v1/emails/{email_id}/retry" in row.error_message
    assert _failed_event(fakes, email_id)["error_code"] == "dead_lettered"
    assert fakes.smtp.attempts == 0


def test_an_accepted_email_whose_routing_keeps_raising_ends_failed_dead_lettered(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    emails = _Failing(fakes)
    email_id = _intake(fakes).accept(email_request(fakes.companies.add().id)).email_id
    _ending_emails(broker, fakes)
    emails.failing = "route"

    _send(broker, queues.ROUTE_EMAIL, email_id, **QUICK_RETRIES)
    _run(broker, worker, queues.DISPATCH)

    row = emails.row(email_id)
    assert (row.status, row.route, row.error_code) == ("failed", None, "dead_lettered")
    assert "while routing it" in (row.error_message or "")
    assert _failed_event(fakes, email_id)["route"] is None


def test_an_inline_request_whose_store_is_refused_is_stored_failed_so_it_is_known(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    """PostgreSQL refusing the data (SQLSTATE class 22) is not retried: the message dies at
    once, and the request is then stored failed, whole, so a retry can still send it."""
    fakes = InMemory()
    emails = _Failing(fakes)
    company = fakes.companies.add()
    dead = _ending_emails(broker, fakes)
    emails.failing, emails.error = "store", psycopg.errors.UntranslatableCharacter("\\u0000")
    request = email_request(company.id, cc=["cc@example.com"])

    _send(broker, queues.DISPATCH_EMAIL, {**request.to_wire(), "correlation_id": "order-7"})
    _run(broker, worker, queues.DISPATCH)

    [letter] = dead
    assert letter.retries == 0
    found = email_of(letter)
    assert found is not None
    row = emails.row(found.email_id)
    assert (row.status, row.error_code, row.event_id) == (
        "failed",
        "dead_lettered",
        request.event_id,
    )
    assert (row.to, row.cc, row.subject) == (
        tuple(request.to),
        ("cc@example.com",),
        request.subject,
    )
    assert row.message_id == f"<{found.email_id}@mailroute.localhost>"
    assert "at its first attempt: UntranslatableCharacter" in (row.error_message or "")
    assert _failed_event(fakes, found.email_id)["correlation_id"] == "order-7"


def test_an_inline_request_that_cannot_be_stored_at_all_keeps_its_ids_and_subject(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    emails = _Failing(fakes)
    company = fakes.companies.add()
    _ending_emails(broker, fakes)
    emails.failing, emails.error = "store_all", psycopg.errors.UntranslatableCharacter("nul")
    request = email_request(company.id)
    stripped = InMemory()  # `store_failed_request` stores through `store`: let that one pass
    fakes.abandoned.emails = stripped.emails
    stripped.emails.outbox = fakes.outbox

    _send(broker, queues.DISPATCH_EMAIL, request.to_wire())
    _run(broker, worker, queues.DISPATCH)

    [row] = stripped.emails.rows.values()
    assert (row.status, row.error_code) == ("failed", "unstorable")
    assert (row.to, row.text, row.subject) == ((), None, request.subject)
    assert "only its ids and subject are kept" in (row.error_message or "")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "EmailRequested", "subject": "no company, no recipient"},  # unreadable
        "{not json",
    ],
)
def test_a_message_the_door_refused_makes_no_email(
    broker: StubBroker, worker: dramatiq.Worker, payload: Any
) -> None:
    fakes = InMemory()
    dead = _ending_emails(broker, fakes)

    _send(broker, queues.DISPATCH_EMAIL, payload)
    _run(broker, worker, queues.DISPATCH)

    assert len(dead) == 1
    assert fakes.emails.rows == {}
    assert fakes.outbox.events("email.failed") == []


def test_a_request_for_an_unknown_company_is_refused_not_accepted(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    dead = _ending_emails(broker, fakes)

    _send(
        broker,
        queues.DISPATCH_EMAIL,
        email_request("00000000-0000-4000-8000-000000000001").to_wire(),
    )
    _run(broker, worker, queues.DISPATCH)

    assert len(dead) == 1
    assert fakes.emails.rows == {}


def _letter(actor: str, *args: Any, message_id: str = "dead-1") -> DeadLetter:
    return DeadLetter(message_id, "q", actor, args, retries=10, reason="RuntimeError: a bug")


def _end(fakes: InMemory, letter: DeadLetter) -> str | None:
    return end_dead_email(
        letter,
        store=fakes.emails,
        abandoned=fakes.abandoned,
        outbox=fakes.outbox,
        default_from=DEFAULT_FROM,
    )


def test_a_dead_message_leaves_alone_an_email_another_delivery_is_sending_or_that_ended() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    in_flight, sent = _queued(fakes, company), _queued(fakes, company)
    fakes.emails.claim(in_flight, "live-delivery", "default")
    send_stored_email(sent, route="default", claim_key="m", deps=make_dependencies(fakes))

    assert _end(fakes, _letter(queues.SEND_VIA_SMTP, in_flight)) is None
    assert _end(fakes, _letter(queues.SEND_VIA_SMTP, sent)) is None
    assert fakes.emails.row(in_flight).status == "sending"
    assert fakes.emails.row(sent).status == "sent"

    later = datetime.now(UTC) + timedelta(minutes=6)  # the live claim's lease ran out
    fakes.emails.clock = lambda: later
    assert _end(fakes, _letter(queues.SEND_VIA_SMTP, in_flight)) == in_flight
    assert fakes.outbox.events("email.failed")[-1]["email_id"] == in_flight


def test_a_dead_message_whose_id_is_not_an_email_id_fails_nothing() -> None:
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())

    assert _end(fakes, _letter(queues.SEND_VIA_SMTP, f"urn:uuid:{email_id}")) is None
    assert _end(fakes, _letter(queues.SEND_VIA_SMTP, email_id.upper())) is None
    assert _end(fakes, _letter(queues.NOTIFY_ADMINS_ONCE, {"connection_id": "x"})) is None
    assert fakes.emails.row(email_id).status == "queued"


def test_replaying_a_send_that_died_mid_send_sends_it_once_flagged_a_possible_duplicate() -> None:
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())
    fakes.emails.claim(email_id, "dead-1", "default")  # it died under its own claim
    letter = _letter(queues.SEND_VIA_SMTP, email_id)
    _end(fakes, letter)
    assert fakes.emails.row(email_id).status == "failed"

    assert reopen_for_replay(letter, abandoned=fakes.abandoned, queue=fakes.queue) == "sending"
    assert reopen_for_replay(letter, abandoned=fakes.abandoned, queue=fakes.queue) is None
    deps = make_dependencies(fakes)
    assert send_stored_email(email_id, route="default", claim_key="dead-1", deps=deps) == "sent"

    row = fakes.emails.row(email_id)
    assert (row.status, row.attempts, row.possible_duplicate) == ("sent", 1, True)
    assert row.error_code is None


def test_replaying_a_dead_inline_request_routes_the_email_it_was_stored_as() -> None:
    fakes = InMemory()
    request = email_request(fakes.companies.add().id)
    letter = _letter(queues.DISPATCH_EMAIL, request.to_wire())
    email_id = _end(fakes, letter)
    assert email_id is not None

    assert reopen_for_replay(letter, abandoned=fakes.abandoned, queue=fakes.queue) == "accepted"

    [routed] = fakes.queue.on(queues.DISPATCH)
    assert (routed.actor, routed.args) == (queues.ROUTE_EMAIL, (email_id,))
    assert fakes.emails.row(email_id).status == "accepted"


def test_a_replay_leaves_alone_an_email_that_failed_for_another_reason() -> None:
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())
    fakes.emails.mark_failed(email_id, None, code="smtp_rejected", message="550 no such user")

    letter = _letter(queues.SEND_VIA_SMTP, email_id)
    assert reopen_for_replay(letter, abandoned=fakes.abandoned, queue=fakes.queue) is None
    assert fakes.emails.row(email_id).status == "failed"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        # Stored before intake's rules refused them (or by a bug that let them through).
        (
            "attachments",
            (StoredAttachment("a.pdf", "application/pdf\r\nBcc: x@y.example", b"%PDF"),),
            "HeaderParseError",
        ),
        ("to", ('"Jane <jane',), "ValueError"),
    ],
)
def test_a_message_that_cannot_be_built_fails_at_once_with_internal_error(
    field: str, value: Any, error: str
) -> None:
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())
    setattr(fakes.emails.row(email_id), field, value)

    status = send_stored_email(
        email_id, route="default", claim_key="m", deps=make_dependencies(fakes)
    )

    row = fakes.emails.row(email_id)
    assert (status, row.status, row.error_code, row.attempts) == (
        "failed",
        "failed",
        "internal_error",
        1,
    )
    assert error in (row.error_message or "")
    assert "nothing was sent" in (row.error_message or "")
    assert fakes.smtp.attempts == 0
    assert _failed_event(fakes, email_id)["error_code"] == "internal_error"


def test_a_stored_email_without_a_recipient_is_never_handed_to_a_provider() -> None:
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())
    fakes.emails.row(email_id).to = ()

    send_stored_email(email_id, route="default", claim_key="m", deps=make_dependencies(fakes))

    assert fakes.emails.row(email_id).error_code == "internal_error"
    assert fakes.smtp.attempts == 0


def _stalled(
    email_id: str, *, requeues: int, stalled_for: timedelta, status: str = "queued"
) -> Stalled:
    route: Route | None = None if status == "accepted" else "default"
    return Stalled(email_id, status, route, "order-9", requeues, EPOCH, stalled_for)


def test_the_clock_re_drives_a_stalled_email_and_gives_up_after_a_few_tries_in_vain() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    young, accepted, tired = (_queued(fakes, company) for _ in range(3))
    policy = StallPolicy(max_requeues=3, give_up_after=timedelta(hours=1))
    sweeps = FakeSweeps(
        [
            _stalled(young, requeues=3, stalled_for=timedelta(minutes=40)),
            _stalled(accepted, requeues=0, stalled_for=timedelta(hours=2), status="accepted"),
            _stalled(tired, requeues=3, stalled_for=timedelta(hours=1)),
        ]
    )
    before = len(fakes.queue.messages)

    redriven = sweep_stalled(
        sweeps,
        fakes.abandoned,
        fakes.queue,
        fakes.outbox,
        older_than=timedelta(minutes=10),
        policy=policy,
    )

    assert redriven == 2
    assert sweeps.confirmed == [young, accepted]
    queued = [(m.actor, m.args) for m in fakes.queue.messages[before:]]
    assert queued == [(queues.SEND_VIA_SMTP, (young,)), (queues.ROUTE_EMAIL, (accepted,))]
    row = fakes.emails.row(tired)
    assert (row.status, row.error_code) == ("failed", "stalled")
    assert "queued but never sent since 2026-01-01 00:00 UTC" in (row.error_message or "")
    assert "put back on its queue 3 times without progress" in (row.error_message or "")
    assert _failed_event(fakes, tired)["error_code"] == "stalled"
    assert fakes.emails.row(young).status == "queued"


def test_a_re_drive_the_broker_did_not_confirm_is_not_counted() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    first, second = _queued(fakes, company), _queued(fakes, company)
    sweeps = FakeSweeps(
        [_stalled(e, requeues=0, stalled_for=timedelta(hours=5)) for e in (first, second)]
    )
    original = fakes.queue.schedule_send
    calls: list[str] = []

    def down_after_one(route: Route, email_id: str, *args: Any, **kwargs: Any) -> None:
        calls.append(email_id)
        if len(calls) > 1:
            raise BrokerUnavailableError("RabbitMQ did not confirm (fake)")
        original(route, email_id, *args, **kwargs)

    fakes.queue.schedule_send = down_after_one  # type: ignore[method-assign]
    with pytest.raises(BrokerUnavailableError):
        sweep_stalled(
            sweeps,
            fakes.abandoned,
            fakes.queue,
            fakes.outbox,
            older_than=timedelta(minutes=10),
            policy=StallPolicy(),
        )

    assert sweeps.confirmed == [first]
    assert {fakes.emails.row(e).status for e in (first, second)} == {"queued"}


def test_an_email_whose_message_kills_its_worker_every_time_is_left_to_the_clock() -> None:
    """Each crash redelivers the same message, which claims the email again: past the claims
    an email may take, it is not claimed any more, so the clock finds it stalled."""
    fakes = InMemory()
    email_id = _queued(fakes, fakes.companies.add())
    for _ in range(MAX_CLAIMS):
        assert fakes.emails.claim(email_id, "killer", "default") is not None  # then a crash

    status = send_stored_email(
        email_id, route="default", claim_key="killer", deps=make_dependencies(fakes)
    )

    assert status == "skipped"
    assert fakes.smtp.attempts == 0
    later = datetime.now(UTC) + timedelta(hours=2)  # the last claim's lease ran out long ago
    fakes.emails.clock = lambda: later
    stalled = _stalled(email_id, requeues=3, stalled_for=timedelta(hours=2), status="sending")
    stalled = dataclasses.replace(stalled, attempts=MAX_CLAIMS)
    sweep_stalled(
        FakeSweeps([stalled]),
        fakes.abandoned,
        fakes.queue,
        fakes.outbox,
        older_than=timedelta(minutes=10),
        policy=StallPolicy(),
    )
    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "stalled")
    assert f"in a send that never finished ({MAX_CLAIMS} attempts)" in (row.error_message or "")
