"""Queue `dispatch`: store each EmailRequested once and route it."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from mailroute.events import queues
from mailroute.services import dispatching
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.runtime import deps


@dramatiq.actor(
    queue_name=queues.DISPATCH,
    actor_name=queues.DISPATCH_EMAIL,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def dispatch_email(event: Any) -> None:
    """Store one requested email and queue it on its route."""
    message = CurrentMessage.get_current_message()
    dispatching.dispatch(
        event,
        deps(),
        message_id=message.message_id if message else "",
        queue=queues.DISPATCH,
        actor=queues.DISPATCH_EMAIL,
    )
