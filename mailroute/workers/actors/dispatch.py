"""Queue `dispatch`: route each email, by id (stored at intake) or as a producer's
EmailRequested (stored and routed at once)."""

from __future__ import annotations

from typing import Any

import dramatiq

from mailroute.events import queues
from mailroute.services import batch_dispatch, dispatching, requested
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import current, deps

OPTIONS: dict[str, Any] = {
    "queue_name": queues.DISPATCH,
    "retry_when": transient_only,
    "throws": NEVER_RETRIED,
    "max_backoff": 60_000,
    "min_backoff": 1_000,
}


@dramatiq.actor(actor_name=queues.ROUTE_EMAIL, **OPTIONS)
def route_email(email_id: str) -> None:
    """Route one stored email and queue it on its route."""
    dispatching.route_stored(email_id, deps())


@dramatiq.actor(actor_name=queues.DISPATCH_EMAIL, **OPTIONS)
def dispatch_email(event: Any) -> None:
    """Store one producer's EmailRequested and queue it on its route."""
    message_id, correlation_id = current()
    requested.dispatch_requested(
        event,
        deps(),
        message_id=message_id,
        correlation_id=correlation_id,
        queue=queues.DISPATCH,
        actor=queues.DISPATCH_EMAIL,
    )


@dramatiq.actor(actor_name=queues.DISPATCH_EMAILS, **OPTIONS)
def dispatch_emails(events: Any) -> None:
    """Store many producers' EmailRequested events (`publish_many`) and queue them."""
    message_id, correlation_id = current()
    batch_dispatch.dispatch_requested_many(
        events,
        deps(),
        message_id=message_id,
        correlation_id=correlation_id,
        queue=queues.DISPATCH,
        actor=queues.DISPATCH_EMAILS,
    )
