"""A sliding-window rate limit in PostgreSQL (`rate_limits`), shared by every web process.

One row per key holds the times of the calls let through within the window (at most `limit`).
A call is let through by one upsert, which appends its time only while fewer than `limit` of
the times are inside the window; the row lock of the upsert serialises concurrent callers.
"""

from __future__ import annotations

import math
from datetime import timedelta

from mailroute.adapters.db.pool import Pool
from mailroute.core.web_ports import RateDecision

_TAKE = """
INSERT INTO rate_limits AS r (key, hits) VALUES (%(key)s, ARRAY[now()])
ON CONFLICT (key) DO UPDATE
    SET hits = ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > now() - %(period)s ORDER BY h)
               || now(),
        updated_at = now()
    WHERE (SELECT count(*) FROM unnest(r.hits) h WHERE h > now() - %(period)s) < %(limit)s
RETURNING 1
"""

_RETRY_AFTER = """
SELECT extract(epoch FROM min(h) + %(period)s - now()) AS seconds
FROM rate_limits, unnest(hits) h WHERE key = %(key)s AND h > now() - %(period)s
"""


class PostgresRateLimits:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def take(self, key: str, limit: int, period: timedelta) -> RateDecision:
        args = {"key": key, "limit": limit, "period": period}
        with self._pool.connection() as conn:
            if conn.execute(_TAKE, args).fetchone() is not None:
                return RateDecision(True)
            row = conn.execute(_RETRY_AFTER, args).fetchone()
        seconds = float(row["seconds"]) if row and row["seconds"] is not None else 1.0
        return RateDecision(False, max(1, math.ceil(seconds)))
