"""Sending many emails of the default route a message: claim them in one statement, record
the sent ones in one statement, give back the claims of sends never started. Each email keeps
the promises `email_claims` gives one: its own conditional claim and outcome."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from mailroute.adapters.db.email_claims import (
    ATTACHMENTS,
    claim_cte,
    claim_of,
    claim_params,
    sent_event,
)
from mailroute.adapters.db.pool import Pool
from mailroute.core.model import Route
from mailroute.core.ports import ProviderReceipt
from mailroute.core.records import Claim

# Many emails of the default route in one statement (no sender context: the default route needs
# none); the rows come back in the order of the ids given.
_CLAIM_MANY = (
    f"{claim_cte('id = ANY(%(ids)s::uuid[])')} SELECT claimed.*, a.filenames, a.types,"  # noqa: S608
    f" a.contents FROM claimed{ATTACHMENTS} ORDER BY array_position(%(ids)s::uuid[], claimed.id)"
)


class BatchClaimsSql:
    _pool: Pool

    def claim_many(self, email_ids: list[str], claim_key: str, route: Route) -> list[Claim]:
        """`claim` for many emails of one route that needs no sender context (the default
        route), in one statement; the claims come in the order of `email_ids`, without the
        emails that were not ours to send."""
        if route != "default":
            raise ValueError("claim_many takes emails of the default route only")
        with self._pool.connection() as conn:
            rows = conn.execute(
                _CLAIM_MANY,
                {"ids": email_ids, **claim_params(claim_key, route)},
            ).fetchall()
        return [claim_of(row, route) for row in rows]

    def release_claims(self, email_ids: list[str], claim_key: str) -> int:
        """Give back claims taken for sends that were never started (a batch stopped before
        them): queued again, the attempt not counted. Returns how many were given back."""
        if not email_ids:
            return 0
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = 'queued', attempts = greatest(attempts - 1, 0),"
                " claim_key = NULL, updated_at = now()"
                " WHERE id = ANY(%s::uuid[]) AND status = 'sending' AND claim_key = %s",
                (email_ids, claim_key),
            )
            return cur.rowcount

    def mark_sent_many(
        self, sent: list[tuple[Claim, ProviderReceipt]], claim_key: str
    ) -> list[int]:
        """`mark_sent` for many sends of the default route, in one statement: each email is
        recorded sent with its EmailSent event exactly as `mark_sent` records one. Returns the
        events' outbox ids (an email no longer ours is left alone, and has none)."""
        if not sent:
            return []
        events = [
            Jsonb(sent_event(claim, receipt.message_id, receipt.submitted_only))
            for claim, receipt in sent
        ]
        with self._pool.connection() as conn:
            rows = conn.execute(
                "WITH given AS (SELECT * FROM unnest(%(ids)s::uuid[], %(pids)s::text[],"
                " %(tids)s::text[], %(events)s::jsonb[], %(cids)s::text[])"
                " WITH ORDINALITY AS t(id, pid, tid, event, cid, n)),"
                " sent AS (UPDATE emails e SET status = 'sent', sent_at = now(),"
                " updated_at = now(), provider_message_id = given.pid,"
                " provider_thread_id = given.tid, error_code = NULL, error_message = NULL"
                " FROM given WHERE e.id = given.id AND e.status = 'sending'"
                " AND e.claim_key = %(key)s"
                " RETURNING given.n, given.event, given.cid, e.sent_at, e.possible_duplicate)"
                " INSERT INTO outbox_events (routing_key, payload, correlation_id)"
                " SELECT 'email.sent', sent.event || jsonb_build_object("
                " 'sent_at', sent.sent_at, 'possible_duplicate', sent.possible_duplicate),"
                " sent.cid FROM sent ORDER BY sent.n RETURNING id",
                {
                    "ids": [claim.email.id for claim, _ in sent],
                    "pids": [receipt.message_id for _, receipt in sent],
                    "tids": [receipt.thread_id for _, receipt in sent],
                    "events": events,
                    "cids": [claim.correlation_id for claim, _ in sent],
                    "key": claim_key,
                },
            ).fetchall()
        return [int(row["id"]) for row in rows]
