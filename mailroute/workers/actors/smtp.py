"""Queue `smtp`: send stored emails through the default SMTP server."""

from __future__ import annotations

import dramatiq

from mailroute.events import queues
from mailroute.services import sending
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import current, deps


@dramatiq.actor(
    queue_name=queues.SMTP,
    actor_name=queues.SEND_VIA_SMTP,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def send_via_smtp(email_id: str) -> None:
    """Send one stored email through the default SMTP server."""
    claim_key = current()[0] or email_id
    sending.send_stored_email(email_id, route="default", claim_key=claim_key, deps=deps())
