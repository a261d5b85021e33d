"""What the clock puts back on the queues: parked retries that are due, emails whose message
may be lost, and the connections due for a check."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from mailroute.core.ports import QueuePublisher
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
