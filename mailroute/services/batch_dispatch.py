"""Many producers' EmailRequested events in one message (`Intake.publish_many`): each read,
stored and routed as `requested.dispatch_requested` does one; the default route's emails go
on in batches of ids."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from mailroute.core.model import Route
from mailroute.core.pacing import PacingPolicy
from mailroute.events import queues
from mailroute.services.dependencies import Dependencies
from mailroute.services.requested import (
    DispatchOutcome,
    RoutedRequest,
    UnreadableMessageError,
    finish_stored,
    reject,
    routed_request,
)

_EVENT_LOG_KEYS = ("company_id", "email_id", "email_status", "route", "created", "error_code")


def dispatch_requested_many(
    raw: Any,
    deps: Dependencies,
    *,
    message_id: str,
    correlation_id: str,
    queue: str,
    actor: str,
) -> list[DispatchOutcome]:
    """Many producers' EmailRequested events in one message (`Intake.publish_many`): each read,
    stored and routed as `dispatch_requested` does one. An unreadable event is recorded on its
    own and the others go on; one that is not a list at all is recorded and never retried.
    Each route's emails go on as one batch of ids (`send_many_via_smtp`, `send_many_via_gmail`,
    ...); in a mailbox's batch each email still takes its own pacing turn, and the batch goes in
    waves (`mailbox_waves`) so that each mailbox's emails come when their turns do. A transient
    error stops the message, which dramatiq retries: the events already stored are found
    stored, and queued again."""
    if not isinstance(raw, list) or not raw or len(raw) > queues.BATCH_LIMIT:
        reject(
            raw,
            f"events: a list of 1 to {queues.BATCH_LIMIT} EmailRequested events",
            deps,
            message_id,
            queue,
            actor,
        )
    requests: list[tuple[int, Any, RoutedRequest]] = []
    for index, item in enumerate(raw):
        request = routed_request(item, deps, correlation_id=correlation_id, own_correlation=True)
        if isinstance(request, str):
            with contextlib.suppress(UnreadableMessageError):
                reject(item, request, deps, f"{message_id}#{index}", queue, actor)
            continue
        requests.append((index, item, request))
    stored = deps.emails.store_many([request.store for _, _, request in requests])
    outcomes: list[DispatchOutcome] = []
    by_route: dict[Route, list[tuple[str, str]]] = {}  # (company id, email id)
    for (index, item, request), result in zip(requests, stored, strict=True):
        try:
            outcome, _ = finish_stored(
                item,
                request,
                result,
                deps,
                message_id=f"{message_id}#{index}",
                queue=queue,
                actor=actor,
            )
        except UnreadableMessageError:
            continue
        finally:  # the message's line reports the batch, not its last event
            structlog.contextvars.unbind_contextvars(*_EVENT_LOG_KEYS)
        outcomes.append(outcome)
        if outcome.status != "queued" or outcome.route is None:
            continue
        company_id = request.store.event.company_id
        by_route.setdefault(outcome.route, []).append((company_id, outcome.email_id))
    for route, emails in by_route.items():
        queue_name, batch_actor = queues.BATCH_SENDERS[route]
        policy = deps.pacing_policies.get(route) if route != "default" else None
        if policy is None:
            waves = [(0.0, [email_id for _, email_id in emails])]
        else:
            waves = mailbox_waves(emails, policy)
        for delay, email_ids in waves:
            deps.queue.enqueue(
                queue_name,
                batch_actor,
                (email_ids,),
                delay_seconds=delay,
                correlation_id=correlation_id,
            )
    structlog.contextvars.bind_contextvars(
        events=len(raw), stored=len(outcomes), rejected=len(raw) - len(outcomes)
    )
    return outcomes


def mailbox_waves(
    emails: list[tuple[str, str]], policy: PacingPolicy
) -> list[tuple[float, list[str]]]:
    """A mailbox route's emails of a batch (company id, email id), as waves: the first of each
    company's emails now, its second one pacing interval later, and so on. One mailbox paces
    its sends `policy.interval` apart; sent all at once, all but its first would find their
    turn ahead and go back to wait on a queue of their own. The sender still takes each turn:
    a wave that comes early or late only waits or sends as any email does."""
    by_company: dict[str, list[str]] = {}
    for company_id, email_id in emails:
        by_company.setdefault(company_id, []).append(email_id)
    interval = policy.interval.total_seconds()
    waves: list[tuple[float, list[str]]] = []
    for k in range(max(len(ids) for ids in by_company.values())):
        wave = [ids[k] for ids in by_company.values() if len(ids) > k]
        waves.append((round(k * interval, 3), wave))
    return waves
