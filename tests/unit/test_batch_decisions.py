"""Many emails a message, decided on the in-memory fakes: `publish_many` validates all before it
publishes any, a batch on the dispatch queue stores each event on its own, and a batch on the
smtp queue ends every email exactly as one message each would — sent once, failed with the
server's words, retried on its own message — whatever happens to the others. No I/O."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mailroute.config.settings import Settings
from mailroute.core.abandoned import DeadLetter, emails_of
from mailroute.core.errors import (
    BrokerUnavailableError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute.events import InvalidEventError, queues
from mailroute.services.batch_dispatch import dispatch_requested_many
from mailroute.services.batch_intake import PartlyPublishedError
from mailroute.services.batch_sending import (
    UnreadableBatchError,
    batch_of_ids,
    send_mailbox_batch,
    send_stored_emails,
)
from mailroute.services.intake import Intake
from mailroute.services.requested import UnreadableMessageError
from tests.fakes import InMemory, email_request, make_dependencies


def _intake(fakes: InMemory, inline_bytes: int = 128 * 1024) -> Intake:
    return Intake(
        fakes.companies,
        fakes.emails,
        fakes.outbox,
        fakes.queue,
        Settings().max_email_bytes,
        inline_bytes=inline_bytes,
    )


def _wire(company_id: str, n: int, **fields: Any) -> dict[str, Any]:
    return email_request(company_id, f"invoice-{n}", **fields).to_wire()


def _dispatch(fakes: InMemory, events: Any) -> list[Any]:
    return dispatch_requested_many(
        events,
        make_dependencies(fakes),
        message_id="batch-1",
        correlation_id="corr-batch",
        queue=queues.DISPATCH,
        actor=queues.DISPATCH_EMAILS,
    )


def test_publish_many_puts_a_hundred_events_in_one_message_and_answers_each() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    accepted = _intake(fakes).publish_many(
        [email_request(company.id, f"invoice-{n}") for n in range(250)]
    )

    assert [a.event_id for a in accepted] == [f"invoice-{n}" for n in range(250)]
    assert [(m.actor, len(m.args[0])) for m in fakes.queue.messages] == [
        (queues.DISPATCH_EMAILS, 100),
        (queues.DISPATCH_EMAILS, 100),
        (queues.DISPATCH_EMAILS, 50),
    ]


def test_publish_many_keeps_each_message_under_the_inline_limit() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    text = "x" * 3000

    _intake(fakes, inline_bytes=16 * 1024).publish_many(
        [email_request(company.id, f"invoice-{n}", text=text) for n in range(12)]
    )

    sizes = [len(m.args[0]) for m in fakes.queue.messages]
    assert sum(sizes) == 12
    assert all(size <= 5 for size in sizes)


def test_publish_many_refuses_the_whole_batch_naming_each_bad_event_by_index() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    events: list[Any] = [
        email_request(company.id, "invoice-1").to_wire(),
        {**email_request(company.id, "invoice-2").to_wire(), "to": []},
        {**email_request(company.id, "invoice-3").to_wire(), "company_id": str(uuid.uuid4())},
        email_request(company.id, "invoice-1").to_wire(),
    ]

    with pytest.raises(InvalidEventError) as refused:
        _intake(fakes).publish_many(events)

    fields = {(p.field, p.rule) for p in refused.value.problems}
    assert ("[2].company_id", "known_company") in fields
    assert ("[3].event_id", "unique_in_batch") in fields
    assert any(field.startswith("[1].to") for field, _ in fields)
    assert fakes.queue.messages == []  # nothing published


def test_publish_many_says_which_events_were_published_when_the_broker_stops_midway() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    intake = _intake(fakes)
    events = [email_request(company.id, f"invoice-{n}") for n in range(150)]
    original = fakes.queue.enqueue

    def first_only(*args: Any, **kwargs: Any) -> str:
        if fakes.queue.messages:
            raise BrokerUnavailableError("RabbitMQ did not confirm (fake)")
        return original(*args, **kwargs)

    fakes.queue.enqueue = first_only  # type: ignore[method-assign]
    with pytest.raises(PartlyPublishedError) as stopped:
        intake.publish_many(events)

    assert [a.event_id for a in stopped.value.accepted] == [f"invoice-{n}" for n in range(100)]
    assert isinstance(stopped.value, BrokerUnavailableError)


def test_a_dispatch_batch_stores_each_event_and_sends_the_default_route_as_one_batch() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    outcomes = _dispatch(fakes, [_wire(company.id, n) for n in range(5)])

    assert [o.status for o in outcomes] == ["queued"] * 5
    [send] = fakes.queue.messages
    assert (send.queue, send.actor) == (queues.SMTP, queues.SEND_MANY_VIA_SMTP)
    assert send.args[0] == [o.email_id for o in outcomes]


def test_an_unreadable_event_in_a_dispatch_batch_is_recorded_and_the_others_go_on() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    events = [
        _wire(company.id, 1),
        {"type": "EmailRequested", "to": "nobody"},
        _wire(company.id, 3),
    ]

    outcomes = _dispatch(fakes, events)

    assert len(outcomes) == 2
    [rejected] = fakes.emails.rejected
    assert (rejected["message_id"], rejected["actor"]) == ("batch-1#1", queues.DISPATCH_EMAILS)
    assert len(fakes.queue.messages[0].args[0]) == 2


def test_a_dispatch_message_that_is_not_a_list_of_events_is_refused_for_good() -> None:
    fakes = InMemory()
    company = fakes.companies.add()

    with pytest.raises(UnreadableMessageError):
        _dispatch(fakes, _wire(company.id, 1))
    with pytest.raises(UnreadableMessageError):
        _dispatch(fakes, [_wire(company.id, n) for n in range(queues.BATCH_LIMIT + 1)])
    assert len(fakes.emails.rejected) == 2


def test_a_dispatch_batch_delivered_twice_stores_each_email_once() -> None:
    fakes = InMemory()
    company = fakes.companies.add()
    events = [_wire(company.id, n) for n in range(3)]

    first = _dispatch(fakes, events)
    again = _dispatch(fakes, events)

    assert [o.email_id for o in again] == [o.email_id for o in first]
    assert [o.created for o in again] == [False] * 3
    assert len(fakes.emails.rows) == 3


def _queued_batch(fakes: InMemory, count: int) -> list[str]:
    company = fakes.companies.add()
    outcomes = _dispatch(fakes, [_wire(company.id, n) for n in range(count)])
    fakes.queue.messages.clear()
    return [o.email_id for o in outcomes]


def test_a_send_batch_sends_each_email_once_and_records_each_sent_event() -> None:
    fakes = InMemory()
    ids = _queued_batch(fakes, 4)
    deps = make_dependencies(fakes)

    assert send_stored_emails(ids, claim_key="m-1", deps=deps)["sent"] == 4
    assert send_stored_emails(ids, claim_key="m-1", deps=deps)["skipped"] == 4  # redelivered

    assert len(fakes.smtp.accepted) == 4
    assert {fakes.emails.row(i).status for i in ids} == {"sent"}
    assert [e["email_id"] for e in fakes.outbox.events("email.sent")] == ids


def test_a_refused_recipient_fails_its_email_alone_and_the_rest_of_the_batch_is_sent() -> None:
    fakes = InMemory()
    ids = _queued_batch(fakes, 3)
    fakes.smtp.fail_next(ProviderRejectedError("550 5.1.1 no such user"))

    outcomes = send_stored_emails(ids, claim_key="m-1", deps=make_dependencies(fakes))

    assert (outcomes["failed"], outcomes["sent"]) == (1, 2)
    first = fakes.emails.row(ids[0])
    assert (first.status, first.error_code) == ("failed", "provider_rejected")
    assert [fakes.emails.row(i).status for i in ids[1:]] == ["sent", "sent"]


def test_a_transient_error_retries_that_email_on_a_message_of_its_own() -> None:
    fakes = InMemory()
    ids = _queued_batch(fakes, 3)
    fakes.smtp.fail_next(ProviderUnavailableError("421 4.3.2 try again later"))

    send_stored_emails(ids, claim_key="m-1", deps=make_dependencies(fakes))

    assert fakes.emails.row(ids[0]).status == "retrying"
    [retry] = fakes.queue.messages
    assert (retry.actor, retry.args, retry.delay_seconds > 0) == (
        queues.SEND_VIA_SMTP,
        (ids[0],),
        True,
    )


def test_a_batch_stopped_by_an_error_records_its_sends_and_gives_back_the_rest() -> None:
    fakes = InMemory()
    ids = _queued_batch(fakes, 4)
    deps = make_dependencies(fakes)
    calls = 0
    original = fakes.smtp.send

    def breaks_on_the_third(message: bytes, envelope: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the worker's code broke")
        return original(message, envelope)

    fakes.smtp.send = breaks_on_the_third  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        send_stored_emails(ids, claim_key="m-1", deps=deps)

    rows = [fakes.emails.row(i) for i in ids]
    assert [r.status for r in rows] == ["sent", "sent", "sending", "queued"]
    assert (rows[3].attempts, rows[3].claim_key) == (0, None)  # given back, not counted
    fakes.smtp.send = original  # type: ignore[method-assign]

    send_stored_emails(ids, claim_key="m-1", deps=deps)  # dramatiq's retry of the message
    rows = [fakes.emails.row(i) for i in ids]
    assert [r.status for r in rows] == ["sent"] * 4
    assert [r.possible_duplicate for r in rows] == [False, False, True, False]
    assert len(fakes.outbox.events("email.sent")) == 4


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("not-a-list", "a non-empty list"),
        ([], "a non-empty list"),
        (["not-a-uuid"], r"email_ids\[0\]: must be a UUID"),
        (["6f1c2b52-5a7e-4d4b-9a55-8f7a3f0c1d2e"] * 2, "each id once"),
        ([str(i) for i in range(queues.BATCH_LIMIT + 1)], f"at most {queues.BATCH_LIMIT}"),
    ],
)
def test_a_send_batch_that_is_not_a_list_of_email_ids_is_refused_naming_the_rule(
    value: Any, rule: str
) -> None:
    with pytest.raises(UnreadableBatchError, match=rule):
        batch_of_ids(value)


def test_a_dead_batch_message_ends_every_email_it_carried() -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    company = str(uuid.uuid4())

    def dead(actor: str, args: tuple[Any, ...]) -> DeadLetter:
        return DeadLetter("m-1", queues.SMTP, actor, args, retries=3, reason="RuntimeError: x")

    sends = emails_of(dead(queues.SEND_MANY_VIA_SMTP, ([*ids, "not-an-id"],)))
    requests = emails_of(
        dead(queues.DISPATCH_EMAILS, ([_wire(company, 1), {"junk": True}, _wire(company, 2)],))
    )

    assert [found.email_id for found in sends] == ids
    assert [found.request.event_id for found in requests if found.request] == [
        "invoice-1",
        "invoice-2",
    ]


def test_a_dispatch_batch_sends_each_route_as_a_batch_and_a_gmail_batch_sends_each_email() -> None:
    fakes = InMemory()
    smtp_company = fakes.companies.add()
    gmail_company = fakes.companies.add("Globex Ltd")
    fakes.companies.connect_gmail(gmail_company.id, "billing@globex.example")
    events = [
        _wire(smtp_company.id, 1),
        _wire(gmail_company.id, 2, sender="gmail"),
        _wire(gmail_company.id, 3, sender="gmail"),
    ]

    outcomes = _dispatch(fakes, events)

    by_actor: dict[str, list[str]] = {}
    for message in fakes.queue.messages:
        by_actor.setdefault(message.actor, []).extend(message.args[0])
    assert by_actor == {
        queues.SEND_MANY_VIA_SMTP: [outcomes[0].email_id],
        queues.SEND_MANY_VIA_GMAIL: [outcomes[1].email_id, outcomes[2].email_id],
    }
    deps = make_dependencies(fakes)  # no pacing
    sent = send_mailbox_batch(
        by_actor[queues.SEND_MANY_VIA_GMAIL], route="gmail", claim_key="m-2", deps=deps
    )
    assert sent["sent"] == 2
    assert [fakes.emails.row(o.email_id).status for o in outcomes[1:]] == ["sent", "sent"]
    assert [e["route"] for e in fakes.outbox.events("email.sent")] == ["gmail", "gmail"]


def test_a_mailbox_batch_goes_in_waves_one_pacing_interval_apart_per_company() -> None:
    fakes = InMemory()
    acme, globex = fakes.companies.add(), fakes.companies.add("Globex Ltd")
    for company in (acme, globex):
        fakes.companies.connect_gmail(company.id, f"billing@{company.id[:6]}.example")
    events = [_wire(acme.id, n, sender="gmail") for n in range(3)]
    events += [_wire(globex.id, 10 + n, sender="gmail") for n in range(2)]

    outcomes = _dispatch(fakes, events)

    ids = [o.email_id for o in outcomes]
    waves = [(round(m.delay_seconds, 2), m.args[0]) for m in fakes.queue.messages]
    interval = round(60 / 140, 2)  # Gmail's default pacing: 140 sends a minute
    assert waves == [
        (0.0, [ids[0], ids[3]]),
        (interval, [ids[1], ids[4]]),
        (round(2 * 60 / 140, 2), [ids[2]]),
    ]
