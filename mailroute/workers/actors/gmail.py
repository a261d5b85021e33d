"""Queue `gmail`: send stored emails through the company's Gmail account."""

from __future__ import annotations

from typing import Any

import dramatiq

from mailroute.events import queues
from mailroute.services import batch_sending, sending
from mailroute.workers.actors.retry_policy import NEVER_RETRIED, transient_only
from mailroute.workers.dependencies import current, deps


@dramatiq.actor(
    queue_name=queues.GMAIL,
    actor_name=queues.SEND_VIA_GMAIL,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def send_via_gmail(email_id: str) -> None:
    """Send one stored email as the company's connected Gmail account."""
    claim_key = current()[0] or email_id
    sending.send_stored_email(email_id, route="gmail", claim_key=claim_key, deps=deps())


@dramatiq.actor(
    queue_name=queues.GMAIL,
    actor_name=queues.SEND_MANY_VIA_GMAIL,
    retry_when=transient_only,
    throws=NEVER_RETRIED,
    max_backoff=60_000,
    min_backoff=1_000,
)
def send_many_via_gmail(email_ids: Any) -> None:
    """Send stored emails (a list of ids, at most `queues.BATCH_LIMIT`), each as its own message
    would send it; a message that is not such a list is refused for good."""
    claim_key = current()[0] or "batch"
    ids = batch_sending.batch_of_ids(email_ids)
    batch_sending.send_mailbox_batch(ids, route="gmail", claim_key=claim_key, deps=deps())
