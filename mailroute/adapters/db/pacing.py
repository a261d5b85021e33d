"""Per mailbox pacing state in PostgreSQL, shared by every worker thread and process.

One `gmail_pacing` row per connection holds the account's next free slot, the leases of its sends
in flight and its sends per hour bucket (the arithmetic and its reasons are in `core.pacing`).
Each step is one atomic statement, so concurrent workers never hand out the same slot or lease:

    reserve     the email's held slot (written on its row when it was put back to wait for it)
                if still good; else GREATEST(next_slot, now()) + interval, one UPDATE
    start_send  take a lease if the account is under its concurrency cap and its daily cap, and
                count the send; one UPDATE whose new values are computed from the row it locked
    end_send    give the lease back

Times are the database's (`now()`), so worker clocks never matter. The per-connection limits
(`mailbox_connections.sends_per_minute`, `max_concurrent_sends`, `daily_cap`) override the policy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mailroute.adapters.db.pool import Pool
from mailroute.core.pacing import (
    DAY_BUCKET_SECONDS,
    DAY_WINDOW_BUCKETS,
    PacingPolicy,
    SendStart,
)
from mailroute.core.records import Reservation

_RESERVE = (
    "WITH account AS ("
    " SELECT coalesce(g.sends_per_minute, %(rate)s) AS rate,"
    " coalesce(g.max_concurrent_sends, %(max_concurrent)s) AS max_concurrent, g.daily_cap"
    " FROM mailbox_connections g WHERE g.id = %(conn)s),"
    # The slot the email was put back to wait for, unless it has gone stale.
    " held AS (SELECT gmail_slot AS slot FROM emails"
    " WHERE id = %(email)s::uuid AND gmail_slot >= now() - %(grace)s),"
    " fresh AS (UPDATE gmail_pacing p"
    " SET next_slot = GREATEST(p.next_slot, now()) + make_interval(secs => 60.0 / a.rate),"
    " updated_at = now()"
    " FROM account a WHERE p.connection_id = %(conn)s AND NOT EXISTS (SELECT 1 FROM held)"
    " RETURNING p.next_slot - make_interval(secs => 60.0 / a.rate) AS slot)"
    " SELECT (SELECT slot FROM held) AS held, (SELECT slot FROM fresh) AS fresh, now() AS now,"
    " a.rate, a.max_concurrent, a.daily_cap FROM account a"
)

# The new lease and day counts are computed from the row this UPDATE locked (after a concurrent
# writer commits, PostgreSQL re-evaluates them on the newer row), so the caps hold exactly.
# `live`: leases not yet expired, without this email's own (a crashed attempt's); `day`: the
# buckets still in the daily window.
_START = (
    "WITH lease AS (UPDATE gmail_pacing p SET (in_flight, day_sends, updated_at) = ("
    " SELECT CASE WHEN s.ok THEN s.live || jsonb_build_object(%(email)s::text, s.until)"
    "  ELSE s.live END,"
    " CASE WHEN s.ok THEN s.day || jsonb_build_object(s.bucket::text,"
    "  coalesce((s.day ->> s.bucket::text)::int, 0) + %(weight)s) ELSE s.day END,"
    " now()"
    " FROM (SELECT x.live, x.day, x.bucket, x.until,"
    "  (SELECT count(*) FROM jsonb_object_keys(x.live)) < %(max_concurrent)s"
    "  AND (SELECT coalesce(sum(v::int), 0) FROM jsonb_each(x.day) d(k, v)) + %(weight)s"
    "  <= %(daily_cap)s"
    "  AS ok"
    "  FROM (SELECT"
    "   (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb) FROM jsonb_each(p.in_flight) f(k, v)"
    "    WHERE v::float8 > extract(epoch FROM now()) AND k <> %(email)s) AS live,"
    "   (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb) FROM jsonb_each(p.day_sends) d(k, v)"
    "    WHERE k::bigint >= t.bucket - %(window)s) AS day,"
    "   t.bucket, extract(epoch FROM now())::float8 + %(lease)s AS until"
    "   FROM (SELECT floor(extract(epoch FROM now()) / %(bucket_s)s)::bigint * %(bucket_s)s"
    "    AS bucket) t) x) s)"
    " WHERE p.connection_id = %(conn)s"
    " RETURNING p.in_flight ? %(email)s AS started, p.in_flight, p.day_sends, now() AS now),"
    # The email's held slot is used up once its send starts.
    " used AS (UPDATE emails SET gmail_slot = NULL FROM lease"
    " WHERE emails.id = %(email)s::uuid AND lease.started AND emails.gmail_slot IS NOT NULL)"
    " SELECT * FROM lease"
)


class PostgresPacing:
    """Slots, leases and daily counts per mailbox connection (Gmail's or Microsoft's)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def reserve(self, connection_id: str, email_id: str, policy: PacingPolicy) -> Reservation:
        """The email's slot: the one it holds, or the account's next (one atomic UPDATE)."""
        params = {
            "conn": connection_id,
            "email": email_id,
            "rate": policy.sends_per_minute,
            "max_concurrent": policy.max_concurrent,
            "grace": timedelta(seconds=policy.grace_seconds),
        }
        with self._pool.connection() as conn:
            row = conn.execute(_RESERVE, params).fetchone()
            if row is not None and row["held"] is None and row["fresh"] is None:
                # The account's first send: make its row, then reserve again.
                conn.execute(
                    "INSERT INTO gmail_pacing (connection_id) VALUES (%s)"
                    " ON CONFLICT (connection_id) DO NOTHING",
                    (connection_id,),
                )
                row = conn.execute(_RESERVE, params).fetchone()
        if row is None:
            raise LookupError(f"no mailbox connection {connection_id}")
        slot = row["held"] or row["fresh"]
        assert slot is not None
        return Reservation(
            slot=slot,
            held=row["held"] is not None,
            now=row["now"],
            policy=policy.for_account(
                sends_per_minute=float(row["rate"]),
                max_concurrent=int(row["max_concurrent"]),
                daily_cap=row["daily_cap"],
            ),
        )

    def start_send(
        self, connection_id: str, email_id: str, policy: PacingPolicy, weight: int = 1
    ) -> SendStart:
        """Take a lease and count the send as `weight` (1 a message, or its recipients where
        the provider counts those), if the account is under both caps with it."""
        with self._pool.connection() as conn:
            row = conn.execute(
                _START,
                {
                    "conn": connection_id,
                    "email": email_id,
                    "max_concurrent": policy.max_concurrent,
                    "daily_cap": policy.daily_cap,
                    "weight": weight,
                    "lease": policy.lease_seconds,
                    "bucket_s": DAY_BUCKET_SECONDS,
                    "window": (DAY_WINDOW_BUCKETS - 1) * DAY_BUCKET_SECONDS,
                },
            ).fetchone()
        if row is None:
            raise LookupError(f"no pacing row for mailbox connection {connection_id}")
        return SendStart(
            started=bool(row["started"]),
            in_flight=len(row["in_flight"]),
            day_buckets=_buckets(row["day_sends"]),
            now=row["now"],
        )

    def end_send(self, connection_id: str, email_id: str) -> None:
        """Give the send's lease back (the daily count keeps it: the send may have gone out)."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE gmail_pacing SET in_flight = in_flight - %s, updated_at = now()"
                " WHERE connection_id = %s",
                (email_id, connection_id),
            )


def _buckets(raw: dict[str, Any]) -> dict[int, int]:
    return {int(start): int(count) for start, count in raw.items()}
