"""The advance notices that a connection's refresh token ends soon: `expiry_notices`, keyed
(connection_id, generation).

`open_due` opens them in one statement (INSERT .. SELECT .. ON CONFLICT DO NOTHING): however
many clocks run it at once, each (connection, generation) gets one row. `deliver_once` takes a
pending row with `FOR UPDATE SKIP LOCKED`, sends inside that transaction and records the
outcome (`sent`; `dropped` when the connection is not active in that generation any more or
`send` says it is not worth sending; or still `pending` with the error and one more attempt),
so a concurrent caller skips it and a sent one is never sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

from mailroute.adapters.db.notice_recipients import notice_recipients
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import MailrouteError
from mailroute.core.expiry_ports import DueExpiryNotice, ExpiryOutcome

_OPEN = (
    "INSERT INTO expiry_notices (connection_id, generation, company_id, address, expires_at)"
    " SELECT id, generation, company_id, address, refresh_expires_at FROM mailbox_connections"
    " WHERE state = 'active' AND refresh_expires_at > now()"
    " AND refresh_expires_at <= now() + %s"
    " ON CONFLICT (connection_id, generation) DO NOTHING"
)
_PENDING = (
    "SELECT connection_id, generation FROM expiry_notices WHERE status = 'pending'"
    " ORDER BY created_at LIMIT %s"
)
_TAKE = (
    "SELECT n.company_id, n.address, n.expires_at, n.attempts, c.name, g.connected_by,"
    " g.provider, (g.state = 'active' AND g.generation = n.generation) AS still_active"
    " FROM expiry_notices n"
    " JOIN companies c ON c.id = n.company_id"
    " JOIN mailbox_connections g ON g.id = n.connection_id"
    " WHERE n.connection_id = %s AND n.generation = %s AND n.status = 'pending'"
    " FOR UPDATE OF n SKIP LOCKED"
)
_FINISH = (
    "UPDATE expiry_notices SET status = %s, sent_at = CASE WHEN %s = 'sent' THEN now() END,"
    " attempts = attempts + %s, last_error = NULL"
    " WHERE connection_id = %s AND generation = %s"
)
_FAILED = (
    "UPDATE expiry_notices SET attempts = attempts + 1, last_error = %s"
    " WHERE connection_id = %s AND generation = %s"
)


class PostgresExpiryNotices:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def open_due(self, window: timedelta) -> int:
        with self._pool.connection() as conn:
            return conn.execute(_OPEN, (window,)).rowcount

    def pending(self, limit: int) -> list[tuple[str, int]]:
        with self._pool.connection() as conn:
            rows = conn.execute(_PENDING, (limit,)).fetchall()
        return [(str(row["connection_id"]), int(row["generation"])) for row in rows]

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[DueExpiryNotice], bool]
    ) -> ExpiryOutcome:
        failure: MailrouteError | None = None
        outcome: ExpiryOutcome = "already_handled"
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(_TAKE, (connection_id, generation)).fetchone()
            if row is None:
                return outcome
            notice = DueExpiryNotice(
                connection_id=connection_id,
                generation=generation,
                company_id=str(row["company_id"]),
                company_name=row["name"],
                address=row["address"] or "",
                expires_at=row["expires_at"].astimezone(UTC),
                recipients=notice_recipients(conn, str(row["company_id"]), row["connected_by"]),
                attempts=row["attempts"],
                provider=row["provider"],
                still_active=bool(row["still_active"]),
            )
            try:
                sent = notice.still_active and send(notice)
            except MailrouteError as exc:
                failure = exc
                error = f"{exc.code}: {exc.message}"[:2000]
                conn.execute(_FAILED, (error, connection_id, generation))
            else:
                outcome = "sent" if sent else "dropped"
                conn.execute(_FINISH, (outcome, outcome, int(sent), connection_id, generation))
        if failure is not None:
            raise failure
        return outcome
