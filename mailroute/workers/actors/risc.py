"""Queue `risc`: process one received Google Security Event Token, by its stored id."""

from __future__ import annotations

import dramatiq
import structlog

from mailroute.events import queues
from mailroute.services import security_events
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import current
from mailroute.workers.risc_dependencies import risc_deps


@dramatiq.actor(
    queue_name=queues.RISC,
    actor_name=queues.HANDLE_SECURITY_EVENT,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def handle_security_event(event_id: str) -> None:
    """Break the Gmail connections the event ends, record the rest (once per stored token)."""
    structlog.contextvars.unbind_contextvars("email_id")
    structlog.contextvars.bind_contextvars(risc_event_id=event_id[:64])
    _, correlation_id = current()
    security_events.handle(event_id, risc_deps(), correlation_id or event_id)
