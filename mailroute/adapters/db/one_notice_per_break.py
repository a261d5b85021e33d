"""The one-per-break notices: `auth_broken_notices`, keyed (connection_id, generation).

The notice is opened by the break itself, in its transaction (`connection_transitions`), with
the account and the reason of that break. `deliver_once` takes a pending notice with
`FOR UPDATE SKIP LOCKED`, sends it inside that transaction and records the outcome: `sent`, or
`pending` with the error and one more attempt. So concurrent duplicates skip, a retry re-sends
the same notice, a sent one is never sent again. Re-authorization raises the generation: a new
key, so a later break notifies. Each attempt carries a new re-authorization link for the
mailbox's owner (`reauthorization_links`), written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

from mailroute.adapters.db import outbox
from mailroute.adapters.db.active_again_notices import ActiveAgainDelivery
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.reauthorization_links import issue_link
from mailroute.core.errors import MailrouteError
from mailroute.core.reauthorization import LinkedNotice
from mailroute.core.records import DeliveryOutcome, PendingNotice
from mailroute.events import AuthBroken, queues


class PostgresNotices(ActiveAgainDelivery):
    """The break's notices (and, from `ActiveAgainDelivery`, the Active-again ones)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def deliver_once(
        self, connection_id: str, generation: int, send: Callable[[PendingNotice], None]
    ) -> DeliveryOutcome:
        """Send the pending notice through `send`, at most one caller at a time.

        A `MailrouteError` from `send` is recorded on the notice (still pending) and re-raised.
        """
        failure: MailrouteError | None = None
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT n.company_id, n.reason, n.attempts, n.created_at, c.name,"
                " c.default_while_gmail_broken, n.address, n.broken_at, n.correlation_id,"
                " g.connected_by, g.provider"
                " FROM auth_broken_notices n"
                " JOIN companies c ON c.id = n.company_id"
                " JOIN mailbox_connections g ON g.id = n.connection_id"
                " WHERE n.connection_id = %s AND n.generation = %s AND n.status = 'pending'"
                " FOR UPDATE OF n SKIP LOCKED",
                (connection_id, generation),
            ).fetchone()
            if row is None:
                found = conn.execute(
                    "SELECT status FROM auth_broken_notices"
                    " WHERE connection_id = %s AND generation = %s",
                    (connection_id, generation),
                ).fetchone()
                if found is None:
                    return "no_notice"
                return "already_sent" if found["status"] == "sent" else "in_flight"
            recipients = conn.execute(
                "SELECT DISTINCT email FROM users"
                " WHERE company_id = %s AND (role = 'admin' OR id = %s) ORDER BY email",
                (row["company_id"], row["connected_by"]),
            ).fetchall()
            broken_at = row["broken_at"] or row["created_at"]
            notice = LinkedNotice(
                connection_id=connection_id,
                generation=generation,
                company_id=str(row["company_id"]),
                company_name=row["name"],
                address=row["address"] or "",
                reason=row["reason"],
                broken_at=broken_at.astimezone(UTC),
                default_while_broken=row["default_while_gmail_broken"],
                recipients=tuple(r["email"] for r in recipients),
                attempts=row["attempts"],
                correlation_id=row["correlation_id"],
                provider=row["provider"],
                # A fresh link each attempt: only a hash is kept, so a retry cannot resend the
                # last one; every link of this break dies with it when it is re-authorized.
                reauthorization_token=issue_link(conn, connection_id, generation),
            )
            try:
                send(notice)
            except MailrouteError as exc:
                failure = exc
                conn.execute(
                    "UPDATE auth_broken_notices SET attempts = attempts + 1, last_error = %s"
                    " WHERE connection_id = %s AND generation = %s",
                    (f"{exc.code}: {exc.message}"[:2000], connection_id, generation),
                )
            else:
                conn.execute(
                    "UPDATE auth_broken_notices SET status = 'sent', sent_at = now(),"
                    " attempts = attempts + 1, last_error = NULL"
                    " WHERE connection_id = %s AND generation = %s",
                    (connection_id, generation),
                )
        if failure is not None:
            raise failure
        return "sent"

    def ask_again(self, *, older_than: timedelta, limit: int = 100) -> int:
        """The backstop: for each notice still pending and not asked for within `older_than`
        (its task dead-lettered, say), write the notify task again. Returns how many."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "UPDATE auth_broken_notices SET requeued_at = now()"
                " WHERE (connection_id, generation) IN (SELECT connection_id, generation"
                " FROM auth_broken_notices WHERE status = 'pending'"
                " AND coalesce(requeued_at, created_at) < now() - %s"
                " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING connection_id, generation, company_id, reason, address,"
                " coalesce(broken_at, created_at) AS broken_at, correlation_id",
                (older_than, limit),
            ).fetchall()
            for row in rows:
                event = AuthBroken(
                    connection_id=str(row["connection_id"]),
                    company_id=str(row["company_id"]),
                    generation=row["generation"],
                    reason=row["reason"],
                    broken_at=row["broken_at"],
                    address=row["address"],
                    correlation_id=row["correlation_id"],
                )
                outbox.add_task(
                    conn,
                    queues.NOTIFY,
                    queues.NOTIFY_ADMINS_ONCE,
                    [event.to_wire()],
                    row["correlation_id"],
                )
        return len(rows)
