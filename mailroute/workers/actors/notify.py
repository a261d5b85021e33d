"""Queue `notify`: tell a company's admins, once per break, that Gmail is not connected."""

from __future__ import annotations

from typing import Any

import dramatiq

from mailroute.events import queues
from mailroute.services import notify
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import deps


@dramatiq.actor(
    queue_name=queues.NOTIFY,
    actor_name=queues.NOTIFY_ADMINS_ONCE,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def notify_admins_once(event: Any, generation: int | None = None) -> None:
    """Deliver the notice of the break this AuthBroken event reports, unless it was already."""
    notify.notify_of_break(event, generation, deps())
