"""Dispatch: store a requested email once, decide its route, and queue it for sending.

Also the way back: `redispatch_failed` (POST /v1/emails/{id}/retry) and
`retry_failed_while_not_connected` (the settings page's "Retry N emails that failed while Gmail
was not connected") route a failed email again, with the same Message-ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from mailroute.core.errors import PermanentError
from mailroute.core.mime import bare_address, email_id_for, from_header, message_id_for
from mailroute.core.records import SenderContext
from mailroute.core.routing import RouteDecision, decide_route
from mailroute.events import EmailRequested, InvalidEventError, UnreadableEventError, read_event
from mailroute.services.deps import Deps
from mailroute.services.notify import request_notice

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


def _route(event: EmailRequested, deps: Deps) -> tuple[SenderContext, RouteDecision] | None:
    """The company's context and the email's route; None for an unknown company.

    A route to send on may come from a context read up to a second ago (the sender checks the
    Gmail connection again when it claims the email); anything else is decided on a fresh read,
    so an email never fails on a stale view of its company."""
    if deps.recent_sender_context is not None:
        recent = deps.recent_sender_context(event.company_id)
        if recent is not None:
            decision = _decide(event, recent)
            if decision.route is not None and not decision.connection_broken:
                return recent, decision
    context = deps.sender_context(event.company_id)
    if context is None:
        return None
    return context, _decide(event, context)


def _decide(event: EmailRequested, context: SenderContext) -> RouteDecision:
    return decide_route(
        event.sender,
        context.connection,
        default_while_broken=context.company.default_while_gmail_broken,
    )


def dispatch(raw: Any, deps: Deps, *, message_id: str, queue: str, actor: str) -> DispatchOutcome:
    try:
        event = read_request(raw)
        routed = _route(event, deps)
        if routed is None:
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
    context, decision = routed
    company = context.company
    # A failed route (Gmail not connected) still records the Gmail From it would have used.
    if decision.route != "default" and context.connection and context.connection.address:
        from_address = from_header(company.name, context.connection.address)
    else:
        from_address = from_header(company.name, bare_address(deps.settings.default_from))
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
        from_address=from_address,
        reply_to=reply_to,
        message_id=message_id_for(email_id, from_address),
        failure=failure,
    )
    if outbox_id is not None:
        deps.outcomes.publish_stored([outbox_id])
    if failure is not None and result.created:
        deps.emails.note_broken_generation(result.email_id, context.connection_generation)
    if decision.connection_broken:
        # The connection broke earlier; make sure the admins heard (the notice stays single).
        request_notice(deps, context.connection_id, context.connection_generation)
    if result.status == "queued" and result.route is not None:
        # New, or stored by an earlier delivery that may have died before queueing it:
        # queueing twice is harmless, the sender's claim lets only one send.
        deps.scheduler.schedule_send(result.route, result.email_id)
    # Reported on the message's `message.done` line (one line per message, not two).
    structlog.contextvars.bind_contextvars(
        email_status=result.status,
        route=result.route,
        created=result.created,
        error_code=decision.error_code,
    )
    return DispatchOutcome(result.email_id, result.status, result.route, result.created)


@dataclass(frozen=True)
class RetryRefused:
    """Why a failed email cannot be sent again now: HTTP status, code, field and rule."""

    status: int
    code: str
    field: str
    rule: str
    message: str


def redispatch_failed(email_id: str, company_id: str, deps: Deps) -> DispatchOutcome | RetryRefused:
    """Route a failed email again (a fresh attempt count, the same Message-ID) and queue it."""
    target = deps.emails.retry_target(email_id, company_id)
    if target is None:
        return RetryRefused(404, "not_found", "email_id", "known_email", "no such email")
    status, sender_choice = target
    if status != "failed":
        return RetryRefused(
            409, "not_failed", "status", "must_be_failed", f"the email is {status}, not failed"
        )
    context = deps.sender_context(company_id)
    if context is None:
        return RetryRefused(404, "not_found", "company_id", "known_company", "no such company")
    decision = decide_route(
        sender_choice,  # type: ignore[arg-type]
        context.connection,
        default_while_broken=context.company.default_while_gmail_broken,
    )
    if decision.route is None:
        return RetryRefused(
            409,
            decision.error_code or "not_routable",
            "sender",
            "gmail_connected",
            decision.error_message or "the email cannot be routed now",
        )
    if decision.route == "gmail" and context.connection and context.connection.address:
        from_address = from_header(context.company.name, context.connection.address)
    else:
        from_address = from_header(context.company.name, bare_address(deps.settings.default_from))
    if not deps.emails.redispatch(
        email_id, company_id, route=decision.route, from_address=from_address
    ):
        return RetryRefused(
            409, "not_failed", "status", "must_be_failed", "the email is no longer failed"
        )
    deps.scheduler.schedule_send(decision.route, email_id)
    log.info("email.redispatched", email_id=email_id, route=decision.route)
    return DispatchOutcome(email_id, "queued", decision.route, created=False)


def failed_while_not_connected(company_id: str, deps: Deps) -> list[str]:
    """Emails that failed gmail_not_connected during the last break, now that Gmail is active
    again (re-authorized: the broken generation is the one before the current)."""
    context = deps.sender_context(company_id)
    if (
        context is None
        or context.connection is None
        or context.connection.state != "active"
        or context.connection_generation is None
    ):
        return []
    return deps.emails.failed_while_not_connected(company_id, context.connection_generation - 1)


def count_failed_while_not_connected(company_id: str, deps: Deps) -> int:
    """N for the settings page's "Retry N emails that failed while Gmail was not connected"."""
    return len(failed_while_not_connected(company_id, deps))


def retry_failed_while_not_connected(company_id: str, deps: Deps) -> int:
    """Re-dispatch those emails; returns how many were queued again."""
    queued = 0
    for email_id in failed_while_not_connected(company_id, deps):
        if isinstance(redispatch_failed(email_id, company_id, deps), DispatchOutcome):
            queued += 1
    log.info("email.retried_after_reauthorization", company_id=company_id, count=queued)
    return queued
