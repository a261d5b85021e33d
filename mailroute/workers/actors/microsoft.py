"""Queue `microsoft`: send stored emails through the company's Microsoft 365 mailbox."""

from __future__ import annotations

import dramatiq

from mailroute.events import queues
from mailroute.services import sending
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import current, deps


@dramatiq.actor(
    queue_name=queues.MICROSOFT,
    actor_name=queues.SEND_VIA_MICROSOFT,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def send_via_microsoft(email_id: str) -> None:
    """Send one stored email as the company's connected Microsoft 365 mailbox."""
    claim_key = current()[0] or email_id
    sending.send_stored_email(email_id, route="microsoft", claim_key=claim_key, deps=deps())
