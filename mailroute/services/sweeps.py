"""What the clock puts back on the queues: parked retries that are due, emails whose message
may be lost (or, after a few tries in vain, the failure they end with), and the connections
due for a check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from mailroute.core.abandoned import AbandonedEmails, Stalled, StallPolicy, stalled_failure
from mailroute.core.ports import EmailSweeps, Outbox, QueuePublisher
from mailroute.core.records import Requeue
from mailroute.events import queues

log = structlog.get_logger(__name__)


def requeue(items: list[Requeue], queue: QueuePublisher) -> int:
    """Each email back on its route's queue, or on dispatch when it was never routed; the
    claim (and routing's conditional move) make a duplicate message harmless."""
    for item in items:
        if item.route is None:
            queue.enqueue(
                queues.DISPATCH,
                queues.ROUTE_EMAIL,
                (item.email_id,),
                correlation_id=item.correlation_id,
            )
        else:
            queue.schedule_send(item.route, item.email_id, correlation_id=item.correlation_id)
    return len(items)


def sweep_stalled(
    sweeps: EmailSweeps,
    abandoned: AbandonedEmails,
    queue: QueuePublisher,
    outbox: Outbox,
    *,
    older_than: timedelta,
    policy: StallPolicy,
) -> int:
    """Put each stalled email back on its queue, or, once the policy gives up on it, fail it
    `stalled` (with its `EmailFailed`). A re-drive counts only once the broker confirmed it:
    when it cannot, the rest wait for the next sweep and nothing is counted for them."""
    confirmed: list[str] = []
    try:
        for item in sweeps.stalled(older_than=older_than):
            if policy.gives_up(item):
                _give_up(item, abandoned, outbox)
                continue
            requeue([_as_requeue(item)], queue)
            confirmed.append(item.email_id)
    finally:
        if confirmed:
            sweeps.requeued(confirmed)
    return len(confirmed)


def _as_requeue(item: Stalled) -> Requeue:
    return Requeue(
        item.email_id, item.route if item.status != "accepted" else None, item.correlation_id
    )


def _give_up(item: Stalled, abandoned: AbandonedEmails, outbox: Outbox) -> None:
    code, message = stalled_failure(item)
    outbox_id = abandoned.fail_abandoned(item.email_id, message_id="", code=code, message=message)
    if outbox_id is not None:
        outbox.publish_stored([outbox_id])
        log.warning(
            "email.given_up",
            email_id=item.email_id,
            status=item.status,
            requeues=item.requeues,
            error_code=code,
        )


def check_connections(due: list[str], verify: Callable[[str], object]) -> int:
    """Verify the connections that are due (a token refresh each); one failing check never
    stops the others. A revoked grant found here breaks the connection through the one break
    path, so its admins hear once, before an invoice fails."""
    checked = 0
    for company_id in due:
        try:
            verify(company_id)
            checked += 1
        except Exception:
            log.exception("clock.connection_check_failed", company_id=company_id)
    if checked:
        log.info("clock.connections_checked", count=checked)
    return checked
