"""Publishing what happens to a Gmail connection: `GmailConnectionChanged` on every transition
and `AuthBroken` (plus the notify actor's message) for the one caller that broke it.

Each event is written to `outbox_events` first and then published through the `OutboxRelay`,
so an event the broker could not take now is relayed later by the clock.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from mailroute.adapters.db.emails import insert_outbox
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq import OutboxRelay
from mailroute.core.errors import BrokerUnavailableError
from mailroute.events import AuthBroken, GmailConnectionChanged, queues

log = structlog.get_logger(__name__)

CONNECTION_CHANGED = "connection.changed"
AUTH_BROKEN = "connection.auth_broken"


class QueueEnqueuer(Protocol):
    def enqueue(
        self, queue: str, actor: str, args: tuple[Any, ...], *, delay_seconds: float = 0.0
    ) -> str: ...


class OutboxConnectionEvents:
    def __init__(self, pool: Pool, relay: OutboxRelay, queue: QueueEnqueuer) -> None:
        self._pool = pool
        self._relay = relay
        self._queue = queue

    def _store(self, routing_key: str, payload: dict[str, Any]) -> int:
        with self._pool.connection() as conn:
            return insert_outbox(conn, routing_key, payload)

    def connection_changed(self, event: GmailConnectionChanged) -> None:
        outbox_id = self._store(CONNECTION_CHANGED, event.to_wire())
        self._relay.publish_stored([outbox_id])
        log.info(
            "connection.changed",
            company_id=event.company_id,
            state=event.state,
            generation=event.generation,
        )

    def auth_broken(self, event: AuthBroken) -> None:
        """Record the break and ask the notify actor to tell the admins (it sends once)."""
        outbox_id = self._store(AUTH_BROKEN, event.to_wire())
        self._relay.publish_stored([outbox_id])
        try:
            self._queue.enqueue(
                queues.NOTIFY, queues.NOTIFY_ADMINS_ONCE, (event.connection_id, event.generation)
            )
        except BrokerUnavailableError:
            # The break is recorded; the next failing send publishes AuthBroken again and the
            # notice stays single through its dedupe record.
            log.warning("connection.notify_deferred", connection_id=event.connection_id)
        log.info(
            "connection.auth_broken",
            company_id=event.company_id,
            reason=event.reason,
            generation=event.generation,
        )
