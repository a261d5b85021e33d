"""A producer's EmailRequested from the dispatch queue (`dispatch_email`): read it at the door
(every rule applies), route it, store it already routed, queue it. The parts are shared with the
batch of many events (`batch_dispatch`), and the outcome types with routing by id
(`dispatching`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import structlog

from mailroute.core.errors import PermanentError
from mailroute.core.mime import email_id_for, message_id_for
from mailroute.core.model import Route
from mailroute.core.records import SenderContext, StoreRequest, StoreResult
from mailroute.core.routing import RouteDecision
from mailroute.events import EmailRequested, InvalidEventError, UnreadableEventError, read_event
from mailroute.services.dependencies import Dependencies
from mailroute.services.intake import IdempotencyConflictError
from mailroute.services.route_choice import broken_generation, decide, from_address_for

log = structlog.get_logger(__name__)


class UnreadableMessageError(PermanentError):
    """The message on the dispatch queue is not a readable EmailRequested; it was recorded."""

    code = "unreadable_message"


@dataclass(frozen=True)
class DispatchOutcome:
    email_id: str
    status: str
    route: Route | None
    created: bool


def route_failure(decision: RouteDecision) -> tuple[str, str] | None:
    if decision.route is not None:
        return None
    assert decision.error_code is not None
    assert decision.error_message is not None
    return decision.error_code, decision.error_message


def report(status: str, route: str | None, created: bool, decision: RouteDecision) -> None:
    """Reported on the message's `message.done` line (one line per message, not two)."""
    structlog.contextvars.bind_contextvars(
        email_status=status, route=route, created=created, error_code=decision.error_code
    )


def _route(event: EmailRequested, deps: Dependencies) -> tuple[SenderContext, RouteDecision] | None:
    """The company's context and the email's route; None for an unknown company.

    A route to send on may come from a context read up to a second ago (the sender checks the
    Gmail connection again when it claims the email); anything else is decided on a fresh read,
    so an email never fails on a stale view of its company."""
    if deps.recent_sender_context is not None:
        recent = deps.recent_sender_context(event.company_id)
        if recent is not None:
            decision = decide(event.sender, recent)
            if decision.route is not None and not decision.connection_broken:
                return recent, decision
    context = deps.sender_context(event.company_id)
    if context is None:
        return None
    return context, decide(event.sender, context)


def reject(
    raw: Any, reason: str, deps: Dependencies, message_id: str, queue: str, actor: str
) -> NoReturn:
    """Record a message mailroute will not act on, with why, and never retry it."""
    deps.emails.record_rejected(
        queue=queue, actor=actor, message_id=message_id, reason=reason, payload=raw
    )
    log.warning("dispatch.rejected", reason=reason)
    raise UnreadableMessageError(reason)


def dispatch_requested(
    raw: Any,
    deps: Dependencies,
    *,
    message_id: str,
    correlation_id: str,
    queue: str,
    actor: str,
) -> DispatchOutcome:
    """A producer's EmailRequested from the queue: read it (a door: every rule applies), store
    it once already routed, queue it. An unreadable message is recorded and never retried."""
    request = routed_request(raw, deps, correlation_id=correlation_id, own_correlation=False)
    if isinstance(request, str):
        reject(raw, request, deps, message_id, queue, actor)
    one = request.store
    stored = deps.emails.store(
        one.event,
        correlation_id=one.correlation_id,
        route=one.route,
        from_address=one.from_address,
        reply_to=one.reply_to,
        message_id=one.message_id,
        failure=one.failure,
        routed=True,
    )
    outcome, correlation = finish_stored(
        raw, request, stored, deps, message_id=message_id, queue=queue, actor=actor
    )
    if outcome.status == "queued" and outcome.route is not None:
        # New, or stored by an earlier delivery that may have died before queueing it:
        # queueing twice is harmless, the sender's claim lets only one send.
        deps.queue.schedule_send(outcome.route, outcome.email_id, correlation_id=correlation)
    return outcome


@dataclass(frozen=True)
class RoutedRequest:
    """A producer's event read and routed, ready to store (`store`), with what decided it."""

    store: StoreRequest
    context: SenderContext
    decision: RouteDecision


def routed_request(
    raw: Any, deps: Dependencies, *, correlation_id: str, own_correlation: bool
) -> RoutedRequest | str:
    """Read and route one event (a door: every rule applies); why not, when it cannot be.
    Its correlation id is the message's, or with `own_correlation` the event's own when it has
    one (a batch's events each keep theirs)."""
    try:
        event: EmailRequested = read_event(raw, expected="EmailRequested")
        routed = _route(event, deps)
        if routed is None:
            raise UnreadableEventError(f"company_id: no company {event.company_id!r}")
    except (UnreadableEventError, InvalidEventError) as exc:
        return str(exc)
    if own_correlation and event.correlation_id:
        correlation_id = event.correlation_id
    email_id = email_id_for(event.company_id, event.event_id)
    context, decision = routed
    from_address = from_address_for(decision, context, deps.settings.default_from)
    request = StoreRequest(
        event,
        correlation_id,
        route=decision.route,
        from_address=from_address,
        reply_to=event.reply_to or context.company.reply_to,
        message_id=message_id_for(email_id, from_address),
        failure=route_failure(decision),
        routed=True,
    )
    return RoutedRequest(request, context, decision)


def finish_stored(
    raw: Any,
    request: RoutedRequest,
    stored: tuple[StoreResult, int | None],
    deps: Dependencies,
    *,
    message_id: str,
    queue: str,
    actor: str,
) -> tuple[DispatchOutcome, str]:
    """What follows storing one event: a reused event id refused, its failure published and
    noted, its outcome reported; the outcome and its correlation id."""
    result, outbox_id = stored
    event = request.store.event
    structlog.contextvars.bind_contextvars(company_id=event.company_id, email_id=result.email_id)
    if not result.same_request:
        reject(raw, str(IdempotencyConflictError(event.event_id)), deps, message_id, queue, actor)
    if outbox_id is not None:
        deps.outbox.publish_stored([outbox_id])
    if request.store.failure is not None and result.created:
        generation = broken_generation(request.decision, request.context)
        deps.emails.note_broken_generation(result.email_id, generation)
    report(result.status, result.route, result.created, request.decision)
    outcome = DispatchOutcome(result.email_id, result.status, result.route, result.created)
    return outcome, result.correlation_id or request.store.correlation_id or ""
