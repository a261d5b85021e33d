"""Dispatch: decide a stored email's route, and queue it for sending.

Two ways in, one decision: `route_stored` routes an email the intake stored (its id came on the
dispatch queue); `services.requested` stores and routes at once an `EmailRequested` a producer
published on the queue itself. Also the way back: `redispatch_failed` (POST /v1/emails/{id}/retry)
and `retry_failed_while_not_connected` (the settings page's "Retry N emails that failed while
the mailbox was not connected") route a failed email again, with the same Message-ID.

A broken connection found here needs no notice of its own: the break that made it broken
opened the notice, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from mailroute.core.mime import message_id_for
from mailroute.core.providers import provider
from mailroute.core.records import RouteTarget
from mailroute.core.retention import ContentPurgedError
from mailroute.events.ids import UUID_MESSAGE, is_canonical_uuid
from mailroute.services.dependencies import Dependencies
from mailroute.services.requested import (
    DispatchOutcome,
    UnreadableMessageError,
    report,
    route_failure,
)
from mailroute.services.route_choice import broken_generation, decide, from_address_for

log = structlog.get_logger(__name__)


def route_stored(email_id: str, deps: Dependencies) -> DispatchOutcome | None:
    """Route an accepted email once; queue it (again, if an earlier delivery died before). An
    id that is not one (not a canonical UUID string) is refused for good, never retried."""
    if not is_canonical_uuid(email_id):
        log.warning("dispatch.unreadable_email_id")
        raise UnreadableMessageError(f"email_id: {UUID_MESSAGE} (uuid)")
    target = deps.emails.route_target(email_id)
    if target is None:
        log.warning("dispatch.unknown_email")
        return None
    structlog.contextvars.bind_contextvars(company_id=target.context.company.id)
    if target.status == "accepted":
        return _route_accepted(target, deps)
    if target.status == "queued" and target.route is not None:
        deps.queue.schedule_send(target.route, email_id, correlation_id=target.correlation_id)
    return DispatchOutcome(email_id, target.status, target.route, created=False)


def _route_accepted(target: RouteTarget, deps: Dependencies) -> DispatchOutcome:
    context = target.context
    decision = decide(target.sender_choice, context)
    from_address = from_address_for(decision, context, deps.settings.default_from)
    failure = route_failure(decision)
    moved, outbox_id = deps.emails.set_route(
        target,
        route=decision.route,
        from_address=from_address,
        reply_to=target.reply_to or context.company.reply_to,
        message_id=message_id_for(target.email_id, from_address),
        failure=failure,
    )
    if outbox_id is not None:
        deps.outbox.publish_stored([outbox_id])
    if moved and failure is not None:
        deps.emails.note_broken_generation(target.email_id, broken_generation(decision, context))
    status = "failed" if failure else "queued"
    if moved and decision.route is not None:
        deps.queue.schedule_send(
            decision.route, target.email_id, correlation_id=target.correlation_id
        )
    report(status, decision.route, moved, decision)
    return DispatchOutcome(target.email_id, status, decision.route, moved)


@dataclass(frozen=True)
class RetryRefused:
    """Why a failed email cannot be sent again now: HTTP status, code, field and rule."""

    status: int
    code: str
    field: str
    rule: str
    message: str


def redispatch_failed(
    email_id: str, company_id: str, deps: Dependencies
) -> DispatchOutcome | RetryRefused:
    """Route a failed email again (a fresh attempt count, the same Message-ID) and queue it;
    never one whose content was purged after its retention."""
    try:
        return _redispatch(email_id, company_id, deps)
    except ContentPurgedError as exc:
        return RetryRefused(409, exc.code, "content_purged_at", "content_purged", exc.message)


def _redispatch(
    email_id: str, company_id: str, deps: Dependencies
) -> DispatchOutcome | RetryRefused:
    target = deps.emails.retry_target(email_id, company_id)
    if target is None:
        return RetryRefused(404, "not_found", "email_id", "known_email", "no such email")
    status, sender_choice, correlation_id = target
    if status != "failed":
        return RetryRefused(
            409, "not_failed", "status", "must_be_failed", f"the email is {status}, not failed"
        )
    context = deps.sender_context(company_id)
    if context is None:
        return RetryRefused(404, "not_found", "company_id", "known_company", "no such company")
    decision = decide(sender_choice, context)
    if decision.route is None:
        code = decision.error_code or "not_routable"
        return RetryRefused(
            409,
            code,
            "sender",
            code.removesuffix("_not_connected") + "_connected",  # gmail_connected, …
            decision.error_message or "the email cannot be routed now",
        )
    from_address = from_address_for(decision, context, deps.settings.default_from)
    if not deps.emails.redispatch(
        email_id, company_id, route=decision.route, from_address=from_address
    ):
        return RetryRefused(
            409, "not_failed", "status", "must_be_failed", "the email is no longer failed"
        )
    deps.queue.schedule_send(decision.route, email_id, correlation_id=correlation_id)
    log.info("email.redispatched", email_id=email_id, route=decision.route)
    return DispatchOutcome(email_id, "queued", decision.route, created=False)


def failed_while_not_connected(company_id: str, deps: Dependencies) -> list[str]:
    """Emails that failed `<provider>_not_connected` during the last break of a mailbox that is
    active again (re-authorized: the broken generation is the one before the current)."""
    context = deps.sender_context(company_id)
    if context is None:
        return []
    found: list[str] = []
    for mailbox in context.mailboxes:
        if mailbox.view.state == "active":
            found += deps.emails.failed_while_not_connected(
                company_id,
                mailbox.generation - 1,
                code=provider(mailbox.provider).not_connected_code,
            )
    return found


def count_failed_while_not_connected(company_id: str, deps: Dependencies) -> int:
    """N for the settings page's "Retry N emails that failed while Gmail was not connected"."""
    return len(failed_while_not_connected(company_id, deps))


def retry_failed_while_not_connected(company_id: str, deps: Dependencies) -> int:
    """Re-dispatch those emails; returns how many were queued again."""
    queued = 0
    for email_id in failed_while_not_connected(company_id, deps):
        if isinstance(redispatch_failed(email_id, company_id, deps), DispatchOutcome):
            queued += 1
    log.info("email.retried_after_reauthorization", company_id=company_id, count=queued)
    return queued
