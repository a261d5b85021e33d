"""The clock's connection checks: every active Gmail connection is verified (a token refresh)
once per interval, so a revoked grant is found, and its admins told once, before the next invoice
fails; the refresh also keeps rarely used refresh tokens alive (Google drops them after six months
unused).

Checks are spread over time: each tick verifies at most `per_tick` connections, the least
recently verified first, so a thousand connections are not refreshed in one burst."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from mailroute.adapters.db.pool import Pool

log = structlog.get_logger(__name__)


def due_for_check(pool: Pool, *, interval: timedelta, limit: int) -> list[str]:
    """Company ids of active connections not verified within `interval`, oldest check first."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT company_id FROM gmail_connections WHERE state = 'active'"
            " AND (last_verified_at IS NULL OR last_verified_at < now() - %s)"
            " ORDER BY last_verified_at NULLS FIRST LIMIT %s",
            (interval, limit),
        ).fetchall()
    return [str(row["company_id"]) for row in rows]


def check_due_connections(
    pool: Pool, verify: Callable[[str], object], *, interval: timedelta, per_tick: int
) -> int:
    """Verify the connections that are due; one failing check never stops the others."""
    checked = 0
    for company_id in due_for_check(pool, interval=interval, limit=per_tick):
        try:
            verify(company_id)
            checked += 1
        except Exception:
            log.exception("clock.connection_check_failed", company_id=company_id)
    if checked:
        log.info("clock.connections_checked", count=checked)
    return checked
