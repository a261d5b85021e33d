"""The one way a Gmail connection breaks, whoever found out (a failing send, the clock's check,
"Check now", any future signal): one conditional UPDATE in one transaction with the notice, the
`AuthBroken` and `GmailConnectionChanged` events and the notify task; only the caller that moved
the connection gets them written. The notice then goes out because the `AuthBroken` event is
delivered to the notify actor, however long the broker is away."""

from __future__ import annotations

import structlog

from mailroute.core.ports import ConnectionBreaks, Outbox
from mailroute.core.records import Broken

log = structlog.get_logger(__name__)


def break_connection(
    breaks: ConnectionBreaks,
    outbox: Outbox,
    *,
    connection_id: str,
    generation: int,
    reason: str,
    correlation_id: str,
) -> Broken | None:
    """active -> not_connected for this generation; the `Broken` for the one winner."""
    broken = breaks.break_connection(connection_id, generation, reason, correlation_id)
    log.warning(
        "connection.auth_broken",
        connection_id=connection_id,
        generation=generation,
        reason=reason,
        won=broken is not None,
    )
    if broken is not None:
        outbox.publish_stored(broken.outbox_ids)
    return broken
