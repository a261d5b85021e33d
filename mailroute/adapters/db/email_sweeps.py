"""The clock's sweeps over the emails record: parked retries that are due, and emails whose
queue message may be gone. The due ones come back as `Requeue` items; the stalled ones as
`Stalled` (`core.abandoned`), with how often the clock put each back since its last progress
and when that progress was, so the clock re-drives it or gives up on it."""

from __future__ import annotations

from datetime import timedelta

from mailroute.adapters.db.email_claims import CLAIM_LEASE
from mailroute.adapters.db.pool import Pool
from mailroute.core.abandoned import Stalled
from mailroute.core.records import Requeue

# Found rows are marked (updated_at = swept_at): one that is still marked at the next sweep made
# no progress meanwhile, so its count of re-drives and the time of its last progress are kept;
# one that moved starts again from zero.
_STALLED = (
    "WITH found AS (SELECT id, updated_at, swept_at IS NOT NULL AND updated_at = swept_at"
    "  AS unmoved FROM emails WHERE ("
    "  (status = 'accepted' AND updated_at < now() - %(age)s)"
    "  OR (route IS NOT NULL AND ("
    "   (status = 'queued' AND updated_at < now() - %(age)s)"
    "   OR (status = 'retrying' AND next_attempt_at < now() - %(age)s"
    "       AND updated_at < now() - %(age)s)"
    "   OR (status = 'sending' AND claimed_at < now() - %(lease)s"
    "       AND updated_at < now() - %(age)s))))"
    " ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " UPDATE emails e SET updated_at = now(), swept_at = now(),"
    " stall_requeues = CASE WHEN found.unmoved THEN e.stall_requeues ELSE 0 END,"
    " stalled_since = CASE WHEN found.unmoved THEN coalesce(e.stalled_since, found.updated_at)"
    "  ELSE found.updated_at END"
    " FROM found WHERE e.id = found.id"
    " RETURNING e.id, e.status, e.route, e.correlation_id, e.stall_requeues, e.stalled_since,"
    " now() - e.stalled_since AS stalled_for, e.attempts"
)
_DUE = (
    "UPDATE emails SET parked = false, updated_at = now() WHERE id IN ("
    " SELECT id FROM emails WHERE status = 'retrying' AND parked"
    " AND next_attempt_at <= now() AND route IS NOT NULL"
    " ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING id, status, route, correlation_id"
)


class PostgresEmailSweeps:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def stalled(self, *, older_than: timedelta, limit: int = 500) -> list[Stalled]:
        """Emails whose queue message may be gone (dead-lettered, or lost with a broker's disk):
        accepted or queued long ago, retrying long past due, or sending with an expired claim.
        Re-queueing is harmless if the original message is still on its way: routing moves an
        accepted email once, and the claim lets one delivery send."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                _STALLED, {"age": older_than, "lease": CLAIM_LEASE, "limit": limit}
            ).fetchall()
        return [
            Stalled(
                email_id=str(r["id"]),
                status=r["status"],
                route=r["route"],
                correlation_id=r["correlation_id"],
                requeues=r["stall_requeues"],
                stalled_since=r["stalled_since"],
                stalled_for=r["stalled_for"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    def requeued(self, email_ids: list[str]) -> None:
        """The broker confirmed these re-drives: one more each, for emails still unmoved."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE emails SET stall_requeues = stall_requeues + 1"
                " WHERE id = ANY(%s::uuid[]) AND updated_at = swept_at",
                (email_ids,),
            )

    def due_retries(self, limit: int = 500) -> list[Requeue]:
        """Parked emails whose retry time has come, un-parked so each is re-published once."""
        with self._pool.connection() as conn:
            rows = conn.execute(_DUE, (limit,)).fetchall()
        return [_requeue(r) for r in rows]


def _requeue(row: dict[str, object]) -> Requeue:
    route = row["route"] if row["status"] != "accepted" else None
    return Requeue(str(row["id"]), route, row["correlation_id"])  # type: ignore[arg-type]
