"""Deleting a company with every row of it, in one transaction: all of it goes, or nothing.

The company's row is locked first, so nothing new can be written for it meanwhile (every row
of a company refers to it, and writing one takes a share lock on that row). Then:

- outbox rows about it: events naming it, tasks carrying the id of one of its emails, webhook
  deliveries, endpoints or its connection, the notice task carrying its `AuthBroken`;
- rejected messages naming it (an unreadable request of its may hold a whole event);
- its rate-limit windows (keys end with `:<company id>`);
- its settled revocations; a revocation Google has not confirmed yet stays, without the
  company or the address, holding the Google account's id and the encrypted token until the
  clock hears Google confirm (then it goes too, `Prune.SETTLED_REVOCATIONS`);
- the company: ON DELETE CASCADE takes its users, API keys, emails and attachments, Gmail
  connection with its pacing and notices, OAuth states, login links, browser sessions, webhook
  endpoints with their deliveries and attempts, and the earlier release's intake rows.

The cascade waits for the company's work in flight (a send recording its outcome holds the
email's row); the events that work wrote are deleted after it. A task of its already on a
queue finds nothing and does nothing; a task row that work in flight wrote carrying only an id
is published, does nothing, and is pruned with every published row (`OUTBOX_RETENTION_DAYS`).
"""

from __future__ import annotations

from mailroute.adapters.db.pool import Pool

_LOCK = "SELECT id FROM companies WHERE id = %(company)s FOR UPDATE"
# A hash join of the outbox with the company's ids: one pass over each, however many.
_OUTBOX_TASKS = (
    "DELETE FROM outbox_events o USING (SELECT id::text AS id FROM emails"
    " WHERE company_id = %(company)s::uuid"
    " UNION SELECT id::text FROM webhook_deliveries WHERE company_id = %(company)s::uuid"
    " UNION SELECT id::text FROM webhook_endpoints WHERE company_id = %(company)s::uuid"
    " UNION SELECT id::text FROM mailbox_connections WHERE company_id = %(company)s::uuid) ids"
    " WHERE o.actor_name IS NOT NULL AND o.payload #>> '{args,0}' = ids.id"
)
_OUTBOX_EVENTS = (
    "DELETE FROM outbox_events WHERE payload ->> 'company_id' = %(company)s::text"
    " OR payload #>> '{args,0,company_id}' = %(company)s::text"
)
_REJECTED = "DELETE FROM rejected_messages WHERE strpos(payload, %(company)s) > 0"
_RATE_LIMITS = "DELETE FROM rate_limits WHERE key LIKE '%%:' || %(company)s"
_REVOCATIONS = (
    "DELETE FROM pending_revocations WHERE company_id = %(company)s AND status <> 'pending'"
)
_UNCONFIRMED = "UPDATE pending_revocations SET address = NULL WHERE company_id = %(company)s"
_COMPANY = "DELETE FROM companies WHERE id = %(company)s"
_BEFORE = (_OUTBOX_TASKS, _OUTBOX_EVENTS, _REJECTED, _RATE_LIMITS, _REVOCATIONS, _UNCONFIRMED)


class PostgresCompanyEraser:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def erase(self, company_id: str) -> bool:
        params = {"company": company_id}
        with self._pool.connection() as conn, conn.transaction():
            if conn.execute(_LOCK, params).fetchone() is None:
                return False
            for statement in _BEFORE:
                conn.execute(statement, params)
            conn.execute(_COMPANY, params)
            # Events that sends in flight wrote while the cascade waited for them.
            conn.execute(_OUTBOX_EVENTS, params)
        return True
