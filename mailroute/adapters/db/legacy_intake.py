"""Requests the earlier release kept whole in `intake_outbox` and had not published when it was
upgraded: each is accepted through today's intake (stored, then routed by id), then deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from mailroute.adapters.db.pool import Pool

log = structlog.get_logger(__name__)


class PostgresLegacyIntake:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def drain(self, accept: Callable[[dict[str, Any]], object], limit: int = 100) -> int:
        """Hand each waiting request to `accept`; one it refuses is logged and dropped (it was
        validated when the earlier release stored it, so that is a bug, not input)."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT id, payload FROM intake_outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (limit,),
            ).fetchall()
            for row in rows:
                try:
                    accept(row["payload"])
                except Exception:
                    log.exception("legacy_intake.refused", row_id=row["id"])
                conn.execute("DELETE FROM intake_outbox WHERE id = %s", (row["id"],))
            conn.execute("DELETE FROM intake_outbox WHERE published_at IS NOT NULL")
        return len(rows)
