"""The HTTP intake's outbox: requests stored with their 202, published to `dispatch` right after
or, while RabbitMQ is down, by the clock's relay when it is back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.adapters.db.pool import Pool


class PostgresIntakeOutbox:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def store(
        self, company_id: str, event_id: str, email_id: str, payload: dict[str, Any]
    ) -> int | None:
        """Store the request; returns its row id, or None when this event is already stored."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO intake_outbox (company_id, event_id, email_id, payload)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (company_id, event_id) DO NOTHING"
                " RETURNING id",
                (company_id, event_id, email_id, Jsonb(payload)),
            ).fetchone()
        return int(row["id"]) if row else None

    def is_accepted(self, email_id: str, company_id: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM intake_outbox WHERE email_id = %s AND company_id = %s",
                (email_id, company_id),
            ).fetchone()
        return row is not None

    def publish(
        self,
        publish: Callable[[dict[str, Any]], object],
        *,
        ids: list[int] | None = None,
        limit: int = 200,
    ) -> int:
        """Publish unpublished rows (these `ids`, or the oldest `limit`), each marked as it goes.

        Rows are locked while published, so relays running side by side never double up; a crash
        between the broker's confirm and the commit publishes again, which dispatch absorbs.
        """
        published = 0
        with self._pool.connection() as conn, conn.transaction():
            if ids is not None:
                rows = conn.execute(
                    "SELECT id, payload FROM intake_outbox WHERE id = ANY(%s)"
                    " AND published_at IS NULL FOR UPDATE SKIP LOCKED",
                    (ids,),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT id, payload FROM intake_outbox WHERE published_at IS NULL"
                    " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (limit,),
                ).fetchall()
            try:
                for row in rows:
                    publish(row["payload"])
                    published += 1
            finally:
                done = [row["id"] for row in rows[:published]]
                if done:
                    conn.execute(
                        "UPDATE intake_outbox SET published_at = now() WHERE id = ANY(%s)",
                        (done,),
                    )
        return published

    def forget_published(self, older_than_hours: int = 24) -> int:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM intake_outbox WHERE published_at < now() - make_interval(hours => %s)",
                (older_than_hours,),
            )
            return cur.rowcount
