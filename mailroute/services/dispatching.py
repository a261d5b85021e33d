"""Dispatch: store a requested email once, decide its route, and queue it for sending."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import structlog

from mailroute.core.errors import PermanentError
from mailroute.core.mime import email_id_for, from_header, message_id_for
from mailroute.core.routing import decide_route
from mailroute.events import EmailRequested, InvalidEventError, UnreadableEventError, read_event
from mailroute.services.deps import Deps

log = structlog.get_logger(__name__)


class UnreadableMessageError(PermanentError):
    """The message on the dispatch queue is not a readable EmailRequested; it was recorded."""

    code = "unreadable_message"


@dataclass(frozen=True)
class DispatchOutcome:
    email_id: str
    status: str
    route: str | None
    created: bool


def read_request(raw: Any) -> EmailRequested:
    event: EmailRequested = read_event(raw, expected="EmailRequested")
    return event


def dispatch(raw: Any, deps: Deps, *, message_id: str, queue: str, actor: str) -> DispatchOutcome:
    try:
        event = read_request(raw)
        context = deps.sender_context(event.company_id)
        if context is None:
            raise UnreadableEventError(f"company_id: no company {event.company_id!r}")
    except (UnreadableEventError, InvalidEventError) as exc:
        deps.emails.record_rejected(
            queue=queue, actor=actor, message_id=message_id, reason=str(exc), payload=raw
        )
        log.warning("dispatch.rejected", reason=str(exc))
        raise UnreadableMessageError(str(exc)) from exc

    structlog.contextvars.bind_contextvars(
        company_id=event.company_id, email_id=email_id_for(event.company_id, event.event_id)
    )
    company = context.company
    decision = decide_route(
        event.sender,
        context.connection,
        default_while_broken=company.default_while_gmail_broken,
    )
    if decision.route == "gmail" and context.connection and context.connection.address:
        from_address = from_header(company.name, context.connection.address)
    else:
        from_address = from_header(company.name, parseaddr(deps.settings.default_from)[1])
    reply_to = event.reply_to or company.reply_to
    email_id = email_id_for(event.company_id, event.event_id)
    failure = None
    if decision.route is None:
        assert decision.error_code is not None
        assert decision.error_message is not None
        failure = (decision.error_code, decision.error_message)
    result, outbox_id = deps.emails.store(
        event,
        route=decision.route,
        from_address=from_address if decision.route else None,
        reply_to=reply_to,
        message_id=message_id_for(email_id, from_address),
        failure=failure,
    )
    if outbox_id is not None:
        deps.outcomes.publish_stored([outbox_id])
    if result.status == "queued" and result.route is not None:
        # New, or stored by an earlier delivery that may have died before queueing it:
        # queueing twice is harmless, the sender's claim lets only one send.
        deps.scheduler.schedule_send(result.route, result.email_id)
    log.info(
        "email.dispatched",
        status=result.status,
        route=result.route,
        created=result.created,
        error_code=decision.error_code,
    )
    return DispatchOutcome(result.email_id, result.status, result.route, result.created)
