"""The clock's sweeps over the emails record: parked retries that are due, and emails whose
queue message may be gone. Each returns `Requeue` items the clock puts back on their queue: on
the route's queue, or the dispatch queue for an email accepted but never routed."""

from __future__ import annotations

from datetime import timedelta

from mailroute.adapters.db.email_claims import CLAIM_LEASE
from mailroute.adapters.db.pool import Pool
from mailroute.core.records import Requeue

_STALLED = (
    "UPDATE emails SET updated_at = now() WHERE id IN ("
    " SELECT id FROM emails WHERE ("
    "  (status = 'accepted' AND updated_at < now() - %(age)s)"
    "  OR (route IS NOT NULL AND ("
    "   (status = 'queued' AND updated_at < now() - %(age)s)"
    "   OR (status = 'retrying' AND next_attempt_at < now() - %(age)s"
    "       AND updated_at < now() - %(age)s)"
    "   OR (status = 'sending' AND claimed_at < now() - %(lease)s"
    "       AND updated_at < now() - %(age)s))))"
    " ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " RETURNING id, status, route, correlation_id"
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

    def stalled(self, *, older_than: timedelta, limit: int = 500) -> list[Requeue]:
        """Emails whose queue message may be gone (dead-lettered, or lost with a broker's disk):
        accepted or queued long ago, retrying long past due, or sending with an expired claim.
        Re-queueing is harmless if the original message is still on its way: routing moves an
        accepted email once, and the claim lets one delivery send."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                _STALLED, {"age": older_than, "lease": CLAIM_LEASE, "limit": limit}
            ).fetchall()
        return [_requeue(r) for r in rows]

    def due_retries(self, limit: int = 500) -> list[Requeue]:
        """Parked emails whose retry time has come, un-parked so each is re-published once."""
        with self._pool.connection() as conn:
            rows = conn.execute(_DUE, (limit,)).fetchall()
        return [_requeue(r) for r in rows]


def _requeue(row: dict[str, object]) -> Requeue:
    route = row["route"] if row["status"] != "accepted" else None
    return Requeue(str(row["id"]), route, row["correlation_id"])  # type: ignore[arg-type]
