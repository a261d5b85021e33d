"""Queue `notify`: tell a company's admins, once per break, that Gmail is not connected."""

from __future__ import annotations

import dramatiq

from mailroute.events import queues
from mailroute.services import notify
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.runtime import deps


@dramatiq.actor(
    queue_name=queues.NOTIFY,
    actor_name=queues.NOTIFY_ADMINS_ONCE,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def notify_admins_once(connection_id: str, generation: int) -> None:
    """Send the notice for this break of the connection, unless it was sent already."""
    notify.notify_admins_once(connection_id, int(generation), deps())
