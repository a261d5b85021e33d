"""A dead queue message and the email it carried (`core.abandoned`): the email ends `failed`
when the message dies, and opens again when the message is replayed. And a task the broker
refused to carry (`fail_refused_task`): its email ends `failed` too.

Both are idempotent: failing is conditional (an email that ended, or that another delivery
holds a live claim on, is left alone), storing an inline request is once per (company, event),
and opening again only moves an email that failed `dead_lettered`.
"""

from __future__ import annotations

from typing import Any

import structlog

from mailroute.core.abandoned import (
    AbandonedEmails,
    DeadEmail,
    DeadLetter,
    dead_lettered,
    emails_of,
)
from mailroute.core.mime import message_id_for
from mailroute.core.ports import EmailClaims, EmailStore, Outbox, QueuePublisher
from mailroute.events import queues

log = structlog.get_logger(__name__)
UNSTORABLE = "unstorable"


def end_dead_email(
    dead: DeadLetter,
    *,
    store: EmailStore,
    abandoned: AbandonedEmails,
    outbox: Outbox,
    default_from: str,
) -> str | None:
    """Fail the email the dead message carried, `dead_lettered`; an inline `EmailRequested`
    that was never stored is stored failed, so `GET /v1/emails/{id}` knows it (with the
    Message-ID a retry keeps, on the default sender's domain). Returns the email's id when
    this call ended it (the first, for a batch message: each of its emails is ended)."""
    ended = [
        email_id
        for found in emails_of(dead)
        if (email_id := _end(found, dead, store, abandoned, outbox, default_from)) is not None
    ]
    return ended[0] if ended else None


def _end(
    found: DeadEmail,
    dead: DeadLetter,
    store: EmailStore,
    abandoned: AbandonedEmails,
    outbox: Outbox,
    default_from: str,
) -> str | None:
    code, message = dead_lettered(dead, found.email_id)
    outbox_id = abandoned.fail_abandoned(
        found.email_id, message_id=dead.message_id, code=code, message=message
    )
    if outbox_id is None and found.request is not None:
        message_id = message_id_for(found.email_id, default_from)
        outbox_id = _store_failed(found, dead, (code, message, message_id), store, abandoned)
    if outbox_id is None:
        return None
    outbox.publish_stored([outbox_id])
    log.warning("email.dead_lettered", email_id=found.email_id, error_code=code)
    return found.email_id


def _store_failed(
    found: DeadEmail,
    dead: DeadLetter,
    failure: tuple[str, str, str],
    store: EmailStore,
    abandoned: AbandonedEmails,
) -> int | None:
    """Store the request whole, failed (a retry can send it); if even that is refused, what
    can be kept of it (no recipient, no body: it can never be sent half)."""
    request = found.request
    assert request is not None
    code, message, message_id = failure
    try:
        _, outbox_id = store.store(
            request,
            correlation_id=dead.correlation_id,
            reply_to=request.reply_to,
            message_id=message_id,
            failure=(code, message),
            routed=True,
        )
        return outbox_id
    except Exception as exc:
        log.error("email.dead_request_not_storable", email_id=found.email_id, exc_info=exc)
        return abandoned.store_failed_request(
            request,
            correlation_id=dead.correlation_id,
            code=UNSTORABLE,
            message=f"{message} The request itself could not be stored"
            f" ({type(exc).__name__}), so only its ids and subject are kept: send it again"
            " as a new request.",
        )


def reopen_for_replay(
    dead: DeadLetter, *, abandoned: AbandonedEmails, queue: QueuePublisher
) -> str | None:
    """Before the dead message goes back on its queue: the email it carried (each, for a
    batch), if it failed `dead_lettered`, is where the message found it again. Returns the
    (first) email's status then."""
    statuses = [
        status
        for found in emails_of(dead)
        if (status := _reopen(found, dead, abandoned, queue)) is not None
    ]
    return statuses[0] if statuses else None


def _reopen(
    found: DeadEmail, dead: DeadLetter, abandoned: AbandonedEmails, queue: QueuePublisher
) -> str | None:
    reopened = abandoned.reopen_dead_lettered(found.email_id, dead.message_id)
    if reopened is None:
        return None
    status, correlation_id = reopened
    if status == "accepted" and dead.actor in (queues.DISPATCH_EMAIL, queues.DISPATCH_EMAILS):
        # The replayed request finds it stored: route it by id, as intake's emails are.
        queue.enqueue(
            queues.DISPATCH, queues.ROUTE_EMAIL, (found.email_id,), correlation_id=correlation_id
        )
    log.info("email.reopened_for_replay", email_id=found.email_id, status=status)
    return status


def fail_refused_task(
    emails: EmailClaims, outbox: Outbox, actor: str | None, args: list[Any], reason: str
) -> None:
    """The broker refused a task the outbox held (over its size limit, say): the email it was
    about ends `failed` with `broker_refused` rather than waiting for ever, and the relay goes
    on with the rows behind it."""
    if actor not in _EMAIL_TASKS or not args or not isinstance(args[0], str):
        return
    outbox_id = emails.mark_failed(
        args[0],
        None,
        code="broker_refused",
        message=f"RabbitMQ refused the message that carried this email on: {reason}",
    )
    if outbox_id is not None:
        outbox.publish_stored([outbox_id])


_EMAIL_TASKS = {queues.ROUTE_EMAIL, *(actor for _, actor in queues.SENDERS.values())}
