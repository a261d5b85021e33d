"""The real actors on dramatiq's StubBroker and a real `dramatiq.Worker`, with the product's
middleware that matters here (`LogContext`, `Retries` as `build_broker` sets it, and
`CurrentMessage`) and the use cases on the in-memory fakes (`set_deps`). Sends go through the
real `DramatiqQueues` adapter, so route_email really queues send_via_smtp. No I/O.

Importing `mailroute.workers.actors` declares the actors on whichever broker is global then: the
fixture sets the StubBroker first, (re)imports the actor modules, and afterwards restores the
previous broker and forgets (or re-declares) the modules, so no other test sees the stub."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import dramatiq
import dramatiq.broker
import psycopg
import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries
from structlog.testing import capture_logs

from mailroute.adapters.db.connection_transitions import AUTH_BROKEN
from mailroute.adapters.rabbitmq.broker import MAX_BACKOFF_MS
from mailroute.adapters.rabbitmq.middleware import LogContext
from mailroute.adapters.rabbitmq.publisher import task_message
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.core.errors import (
    GmailAuthBrokenError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute.core.model import Route
from mailroute.core.records import Claim, Company
from mailroute.events import queues
from mailroute.services.breaks import break_connection
from mailroute.services.dispatching import route_stored
from mailroute.services.intake import Intake
from mailroute.workers.dependencies import set_deps
from tests.fakes import FakeEmails, InMemory, email_request, make_dependencies

PACKAGE = "mailroute.workers.actors"
ACTOR_MODULES = [f"{PACKAGE}.{name}" for name in ("dispatch", "gmail", "notify", "smtp")]
MODULES = [PACKAGE, *ACTOR_MODULES, f"{PACKAGE}.retry_policy"]
# Retry at once, not after dramatiq's second or more (message options override the actor's).
QUICK_RETRIES = {"min_backoff": 1, "max_backoff": 5}
GMAIL = "billing@acme.example"

LogLines = list[dict[str, Any]]


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    previous = dramatiq.broker.global_broker
    # What the actor modules held before, to put back as it was (a reload would declare their
    # actors a second time on the previous broker, which dramatiq refuses).
    saved = {name: dict(vars(m)) if (m := sys.modules.get(name)) else None for name in MODULES}
    stub = StubBroker(
        middleware=[
            LogContext(),
            Retries(max_retries=10, min_backoff=1000, max_backoff=MAX_BACKOFF_MS),
            CurrentMessage(),
        ]
    )
    dramatiq.set_broker(stub)
    if saved[PACKAGE] is None:
        importlib.import_module(PACKAGE)  # declares every actor on the stub
    else:
        for name in ACTOR_MODULES:
            importlib.reload(sys.modules[name])
    try:
        yield stub
    finally:
        set_deps(None)
        stub.close()
        dramatiq.broker.global_broker = previous
        for name, before in saved.items():
            if before is None:
                sys.modules.pop(name, None)  # a later import declares them on its broker
            else:
                vars(sys.modules[name]).clear()
                vars(sys.modules[name]).update(before)
        if saved[PACKAGE] is None:
            vars(sys.modules["mailroute.workers"]).pop("actors", None)


@pytest.fixture
def worker(broker: StubBroker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=10)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def _run(broker: StubBroker, worker: dramatiq.Worker, *queue_names: str) -> None:
    """Wait until the queues (in order: each may feed the next) and the worker are idle."""
    for queue_name in queue_names:
        broker.join(queue_name, timeout=10_000, fail_fast=False)
    worker.join()


def _send(broker: StubBroker, actor: str, *args: Any, **options: Any) -> dramatiq.Message[Any]:
    return broker.get_actor(actor).send_with_options(args=args, **options)


def _done(lines: LogLines) -> list[tuple[str, str, int]]:
    """(actor, outcome, retries) of each message's `message.done` line."""
    return [
        (line["actor"], line["outcome"], line["retries"])
        for line in lines
        if line["event"] == "message.done"
    ]


def _logs() -> Any:
    return capture_logs(processors=[structlog.contextvars.merge_contextvars])


def _intake(fakes: InMemory) -> Intake:
    max_bytes = Settings.from_env({}).max_email_bytes
    return Intake(fakes.companies, fakes.emails, fakes.outbox, fakes.queue, max_bytes)


def _queued(fakes: InMemory, company: Company, sender: str = "default") -> str:
    """An email routed and queued (on the fakes' queue, not the broker's); its id."""
    email_id = _intake(fakes).accept(email_request(company.id, sender=sender)).email_id
    route_stored(email_id, make_dependencies(fakes))
    return email_id


def _company_with_broken_gmail(fakes: InMemory, *, correlation_id: str) -> Company:
    """A company whose Gmail connection (generation 1) broke, `revoked`, through the break path."""
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    break_connection(
        fakes.breaks,
        fakes.outbox,
        connection_id=account.id,
        generation=1,
        reason="revoked",
        correlation_id=correlation_id,
    )
    return company


def _on_broker(fakes: InMemory, broker: StubBroker) -> None:
    set_deps(make_dependencies(fakes, queue=DramatiqQueues(broker)))


def test_an_accepted_email_is_routed_and_sent_by_the_actors_with_its_correlation_id(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _on_broker(fakes, broker)
    accepted = _intake(fakes).accept(email_request(company.id), correlation_id="order-42")
    [task] = fakes.outbox.tasks(queues.ROUTE_EMAIL)

    with _logs() as lines:
        broker.enqueue(task_message(task))  # as the relay publishes the outbox row
        _run(broker, worker, queues.DISPATCH, queues.SMTP)

    row = fakes.emails.row(accepted.email_id)
    assert (row.status, row.route, row.attempts) == ("sent", "default", 1)
    assert len(fakes.smtp.accepted) == 1
    assert broker.dead_letters == []
    assert _done(lines) == [(queues.ROUTE_EMAIL, "ok", 0), (queues.SEND_VIA_SMTP, "ok", 0)]
    worked = [line for line in lines if "message_id" in line]  # bound by LogContext
    assert {(line["correlation_id"], line["email_id"]) for line in worked} == {
        ("order-42", accepted.email_id)
    }
    send_done = [line for line in worked if line["event"] == "message.done"][-1]
    assert (send_done["email_status"], send_done["route"]) == ("sent", "default")
    assert fakes.outbox.events("email.sent")[0]["correlation_id"] == "order-42"


def test_an_email_for_a_broken_gmail_fails_in_the_actor_as_in_the_use_case(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    company = _company_with_broken_gmail(fakes, correlation_id="connection-check")
    _on_broker(fakes, broker)
    email_id = _intake(fakes).accept(email_request(company.id, sender="gmail")).email_id

    _send(broker, queues.ROUTE_EMAIL, email_id)
    _run(broker, worker, queues.DISPATCH, queues.GMAIL)

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code) == ("failed", "gmail_not_connected")
    assert broker.queues[queues.GMAIL].qsize() == 0
    assert len(fakes.notices.rows) == 1
    assert broker.dead_letters == []


def test_a_permanent_provider_error_fails_the_email_and_the_message_is_not_retried(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    email_id = _queued(fakes, company)
    _on_broker(fakes, broker)
    fakes.smtp.fail_next(ProviderRejectedError("550 5.1.1 no such user"))

    with _logs() as lines:
        _send(broker, queues.SEND_VIA_SMTP, email_id, **QUICK_RETRIES)
        _run(broker, worker, queues.SMTP)

    row = fakes.emails.row(email_id)
    assert (row.status, row.error_code, row.attempts) == ("failed", "provider_rejected", 1)
    assert fakes.smtp.attempts == 1
    assert _done(lines) == [(queues.SEND_VIA_SMTP, "ok", 0)]
    assert broker.dead_letters == []


@pytest.mark.parametrize(
    ("actor", "queue_name", "payload"),
    [
        (queues.DISPATCH_EMAIL, queues.DISPATCH, {"type": "EmailRequested", "subject": "Hi"}),
        (queues.NOTIFY_ADMINS_ONCE, queues.NOTIFY, {"type": "AuthBroken", "generation": "x"}),
        (queues.NOTIFY_ADMINS_ONCE, queues.NOTIFY, "{not json"),
    ],
)
def test_an_unreadable_message_is_dead_lettered_at_once_without_a_retry(
    broker: StubBroker, worker: dramatiq.Worker, actor: str, queue_name: str, payload: Any
) -> None:
    fakes = InMemory()
    _on_broker(fakes, broker)

    with _logs() as lines:
        _send(broker, actor, payload, **QUICK_RETRIES)
        _run(broker, worker, queue_name)

    [dead] = broker.dead_letters
    assert dead.options.get("retries", 0) == 0
    assert _done(lines) == [(actor, "error", 0)]
    assert fakes.smtp.attempts == 0


def test_an_unreadable_dispatch_message_is_recorded_with_its_message_id(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    _on_broker(fakes, broker)

    message = _send(broker, queues.DISPATCH_EMAIL, "{not json")
    _run(broker, worker, queues.DISPATCH)

    [rejected] = fakes.emails.rejected
    assert (rejected["queue"], rejected["actor"], rejected["message_id"]) == (
        queues.DISPATCH,
        queues.DISPATCH_EMAIL,
        message.message_id,
    )
    assert fakes.emails.rows == {}


class _DatabaseDown(FakeEmails):
    """Claims raise as psycopg does when PostgreSQL is gone: `failures` times, or always."""

    def __init__(self, fakes: InMemory, failures: int | None) -> None:
        super().__init__(fakes.companies, fakes.outbox)
        self.failures = failures

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None:
        if self.failures is None or self.failures > 0:
            self.failures = None if self.failures is None else self.failures - 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return super().claim(email_id, claim_key, route)


def test_an_unexpected_exception_is_retried_and_the_email_sent_once_it_passes(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    fakes.emails = emails = _DatabaseDown(fakes, failures=2)
    company = fakes.companies.add()
    email_id = _queued(fakes, company)
    _on_broker(fakes, broker)

    with _logs() as lines:
        _send(broker, queues.SEND_VIA_SMTP, email_id, **QUICK_RETRIES)
        _run(broker, worker, queues.SMTP)

    assert emails.failures == 0
    row = emails.row(email_id)
    assert (row.status, row.attempts, row.possible_duplicate) == ("sent", 1, False)
    assert len(fakes.smtp.accepted) == 1
    assert _done(lines) == [
        (queues.SEND_VIA_SMTP, "error", 0),
        (queues.SEND_VIA_SMTP, "error", 1),
        (queues.SEND_VIA_SMTP, "ok", 2),
    ]
    assert broker.dead_letters == []


def test_an_unexpected_exception_that_persists_is_retried_a_bounded_number_of_times(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    fakes.emails = _DatabaseDown(fakes, failures=None)
    company = fakes.companies.add()
    email_id = _queued(fakes, company)
    _on_broker(fakes, broker)

    with _logs() as lines:
        _send(broker, queues.SEND_VIA_SMTP, email_id, **QUICK_RETRIES)
        _run(broker, worker, queues.SMTP)

    from mailroute.workers.actors.retry_policy import MAX_RETRIES  # after the fixture's import

    [dead] = broker.dead_letters
    assert dead.options["retries"] == MAX_RETRIES + 1
    assert _done(lines) == [(queues.SEND_VIA_SMTP, "error", n) for n in range(MAX_RETRIES + 1)]
    assert fakes.emails.row(email_id).status == "queued"  # the clock re-queues it later
    assert fakes.smtp.attempts == 0


def test_a_notice_whose_send_fails_transiently_is_retried_by_the_broker_and_sent_once(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    _company_with_broken_gmail(fakes, correlation_id="send-of-invoice-42")
    _on_broker(fakes, broker)
    fakes.smtp.fail_next(ProviderUnavailableError("421 4.3.2 try again later"))
    [task] = fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)
    notify = task_message(task)

    with _logs() as lines:
        broker.enqueue(notify.copy(options=QUICK_RETRIES))
        _run(broker, worker, queues.NOTIFY)
        broker.enqueue(task_message(task))  # the same task published twice
        _run(broker, worker, queues.NOTIFY)

    assert len(fakes.smtp.accepted) == 1
    [notice] = fakes.notices.rows.values()
    assert (notice.status, notice.attempts) == ("sent", 2)
    assert _done(lines) == [
        (queues.NOTIFY_ADMINS_ONCE, "error", 0),
        (queues.NOTIFY_ADMINS_ONCE, "ok", 1),
        (queues.NOTIFY_ADMINS_ONCE, "ok", 0),
    ]
    assert {line["correlation_id"] for line in lines if "message_id" in line} == {
        "send-of-invoice-42"
    }
    assert broker.dead_letters == []


def test_gmail_sends_that_find_the_authorization_gone_break_the_connection_once(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    account = fakes.companies.connect_gmail(company.id, GMAIL)
    emails = [_queued(fakes, company, "gmail") for _ in range(5)]
    _on_broker(fakes, broker)
    fakes.gmail.account(account.id).fail_next(
        GmailAuthBrokenError("invalid_grant", reason="revoked"), times=5
    )

    for email_id in emails:
        _send(broker, queues.SEND_VIA_GMAIL, email_id)
    _run(broker, worker, queues.GMAIL)

    assert {fakes.emails.row(e).error_code for e in emails} == {"gmail_not_connected"}
    assert len(fakes.outbox.events(AUTH_BROKEN)) == 1
    assert len(fakes.outbox.tasks(queues.NOTIFY_ADMINS_ONCE)) == 1
    assert broker.dead_letters == []


def test_a_raw_event_carrying_its_own_correlation_id_keeps_it_to_the_send(
    broker: StubBroker, worker: dramatiq.Worker
) -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    _on_broker(fakes, broker)
    wire = email_request(company.id, correlation_id="producer-7").to_wire()

    with _logs() as lines:
        _send(broker, queues.DISPATCH_EMAIL, wire)  # no correlation_id in the options
        _run(broker, worker, queues.DISPATCH, queues.SMTP)

    [row] = fakes.emails.rows.values()
    assert row.status == "sent"
    assert {line["correlation_id"] for line in lines if "message_id" in line} == {"producer-7"}
    assert row.correlation_id == "producer-7"
