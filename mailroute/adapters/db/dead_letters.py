"""Why each dead-lettered message failed, keyed by its dramatiq message id."""

from __future__ import annotations

from mailroute.adapters.db.pool import Pool


def _storable(text: str) -> str:
    """`text` as PostgreSQL text can hold it: a reason may quote what could not be stored."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


class PostgresDeadLetters:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def record(self, *, message_id: str, queue: str, actor: str, reason: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO dead_letters (message_id, queue, actor, reason)"
                " VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (message_id) DO UPDATE SET reason = EXCLUDED.reason,"
                " failed_at = now(), replayed_at = NULL",
                tuple(_storable(text) for text in (message_id, queue, actor, reason[:2000])),
            )

    def reasons(self, message_ids: list[str]) -> dict[str, str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT message_id, reason FROM dead_letters WHERE message_id = ANY(%s)",
                (message_ids,),
            ).fetchall()
        return {r["message_id"]: r["reason"] for r in rows}

    def mark_replayed(self, message_ids: list[str]) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE dead_letters SET replayed_at = now() WHERE message_id = ANY(%s)",
                (message_ids,),
            )
