"""The one "Active again" notice per re-authorization after a break: `active_again_notices`,
keyed (connection_id, generation) as the break's own notice is.

`open_active_again` runs inside `connect`'s transaction: when the connection was not connected
(broken) and is active now, it opens the notice and writes the notify task carrying that
`GmailConnectionChanged` (state active), so the notice goes out once the broker takes it. A
first connection, or a re-authorization of a connection that never broke, tells nobody.
`deliver_active_again_once` sends it as the break's notice is sent: the row is taken with
`FOR UPDATE SKIP LOCKED`, sent inside that transaction, marked `sent` or left pending with the
error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.db import outbox
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import MailrouteError
from mailroute.core.reauthorization import PendingActiveAgain
from mailroute.core.records import ConnectionRecord, DeliveryOutcome
from mailroute.events import GmailConnectionChanged, queues

_OPEN = (
    "INSERT INTO active_again_notices (connection_id, generation, company_id, address)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (connection_id, generation) DO NOTHING"
    " RETURNING created_at"
)
_TAKE = (
    "SELECT n.company_id, n.address, n.attempts, n.created_at, n.correlation_id, c.name,"
    " g.connected_by, g.provider FROM active_again_notices n"
    " JOIN companies c ON c.id = n.company_id"
    " JOIN mailbox_connections g ON g.id = n.connection_id"
    " WHERE n.connection_id = %s AND n.generation = %s AND n.status = 'pending'"
    " FOR UPDATE OF n SKIP LOCKED"
)
_RECIPIENTS = (
    "SELECT DISTINCT email FROM users WHERE company_id = %s AND (role = 'admin' OR id = %s)"
    " ORDER BY email"
)


def open_active_again(
    conn: Connection[DictRow], state_before: str | None, after: ConnectionRecord
) -> list[int]:
    """In `connect`'s transaction: the notify task's outbox id when this re-authorization ends
    a break (none otherwise)."""
    if state_before != "not_connected" or after.state != "active":
        return []
    opened = conn.execute(
        _OPEN, (after.id, after.generation, after.company_id, after.address)
    ).fetchone()
    if opened is None:
        return []
    event = GmailConnectionChanged(
        connection_id=after.id,
        company_id=after.company_id,
        state="active",
        generation=after.generation,
        address=after.address,
        changed_at=opened["created_at"],
        provider=after.provider,  # a registered name; pydantic checks it
    )
    return [outbox.add_task(conn, queues.NOTIFY, queues.NOTIFY_ADMINS_ONCE, [event.to_wire()])]


class ActiveAgainDelivery:
    """`deliver_active_again_once` for a notices adapter holding `_pool`."""

    _pool: Pool

    def deliver_active_again_once(
        self, connection_id: str, generation: int, send: Callable[[PendingActiveAgain], None]
    ) -> DeliveryOutcome:
        """Send the pending notice through `send`, at most one caller at a time; a
        `MailrouteError` from `send` is recorded on the notice (still pending) and re-raised."""
        failure: MailrouteError | None = None
        key = (connection_id, generation)
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(_TAKE, key).fetchone()
            if row is None:
                found = conn.execute(
                    "SELECT status FROM active_again_notices"
                    " WHERE connection_id = %s AND generation = %s",
                    key,
                ).fetchone()
                if found is None:
                    return "no_notice"
                return "already_sent" if found["status"] == "sent" else "in_flight"
            recipients = conn.execute(_RECIPIENTS, (row["company_id"], row["connected_by"]))
            notice = PendingActiveAgain(
                connection_id=connection_id,
                generation=generation,
                company_id=str(row["company_id"]),
                company_name=row["name"],
                address=row["address"] or "",
                provider=row["provider"],
                reconnected_at=_utc(row["created_at"]),
                recipients=tuple(r["email"] for r in recipients.fetchall()),
                attempts=row["attempts"],
                correlation_id=row["correlation_id"],
            )
            try:
                send(notice)
            except MailrouteError as exc:
                failure = exc
                conn.execute(
                    "UPDATE active_again_notices SET attempts = attempts + 1, last_error = %s"
                    " WHERE connection_id = %s AND generation = %s",
                    (f"{exc.code}: {exc.message}"[:2000], *key),
                )
            else:
                conn.execute(
                    "UPDATE active_again_notices SET status = 'sent', sent_at = now(),"
                    " attempts = attempts + 1, last_error = NULL"
                    " WHERE connection_id = %s AND generation = %s",
                    key,
                )
        if failure is not None:
            raise failure
        return "sent"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
