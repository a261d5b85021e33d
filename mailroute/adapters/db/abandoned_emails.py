"""Ending the emails whose work was abandoned (`core.abandoned`): failing one with its
`EmailFailed` in the same transaction, storing an inline request that died before anyone
stored it, and opening a `dead_lettered` email again for a replay of its message."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from mailroute.adapters.db.email_claims import CLAIM_LEASE
from mailroute.adapters.db.email_store import add_failed_event
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.store_statement import failed_event
from mailroute.core.abandoned import DEAD_LETTERED
from mailroute.core.mime import email_id_for
from mailroute.events import EmailRequested

# Unless it ended, or another delivery's claim on it is live (that one records the outcome).
_FAIL = (
    "UPDATE emails SET status = 'failed', error_code = %(code)s, error_message = %(message)s,"
    " failed_at = now(), updated_at = now()"
    " WHERE id = %(id)s AND status NOT IN ('sent', 'failed')"
    " AND NOT (status = 'sending' AND claim_key IS DISTINCT FROM %(mid)s"
    "  AND claimed_at > now() - %(lease)s)"
    " RETURNING company_id, event_id, route, from_address, failed_at, correlation_id"
)
# No recipient and no body: what is kept can never be sent half.
_STORE_FAILED = (
    "WITH new AS (INSERT INTO emails (id, company_id, event_id, kind, sender_choice, status,"
    " subject, message_id, error_code, error_message, failed_at, correlation_id)"
    " VALUES (%(id)s, %(company)s, %(event)s, %(kind)s, %(sender)s, 'failed', %(subject)s, '',"
    " %(code)s, %(message)s, now(), %(cid)s) ON CONFLICT DO NOTHING RETURNING failed_at)"
    " INSERT INTO outbox_events (routing_key, payload, correlation_id)"
    " SELECT 'email.failed', %(failed_event)s::jsonb"
    " || jsonb_build_object('failed_at', new.failed_at), %(cid)s FROM new RETURNING id"
)
# Back where the dead message found it: accepted (never routed), `sending` under the dead
# message's own claim (so its replay claims it again and flags a possible duplicate), or queued.
_REOPEN = (
    "UPDATE emails SET status = CASE WHEN route IS NULL THEN 'accepted'"
    " WHEN claim_key = %(mid)s THEN 'sending' ELSE 'queued' END,"
    " attempts = 0, error_code = NULL, error_message = NULL, failed_at = NULL, parked = false,"
    " next_attempt_at = NULL, updated_at = now()"
    " WHERE id = %(id)s AND status = 'failed' AND error_code = %(code)s"
    " AND content_purged_at IS NULL"
    " RETURNING status, correlation_id"
)


def _storable(text: str) -> str:
    """`text` as PostgreSQL text can hold it (no NUL, no lone surrogate)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


class PostgresAbandonedEmails:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def fail_abandoned(
        self, email_id: str, *, message_id: str, code: str, message: str
    ) -> int | None:
        message = _storable(message)
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                _FAIL,
                {
                    "code": code,
                    "message": message,
                    "id": email_id,
                    "mid": message_id,
                    "lease": CLAIM_LEASE,
                },
            ).fetchone()
            if row is None:
                return None
            return add_failed_event(conn, email_id, row, (code, message))

    def store_failed_request(
        self, request: EmailRequested, *, correlation_id: str | None, code: str, message: str
    ) -> int | None:
        email_id = email_id_for(request.company_id, request.event_id)
        event_id, message = _storable(request.event_id), _storable(message)
        correlation_id = _storable(correlation_id) if correlation_id else None
        event = failed_event(
            email_id,
            event_id,
            request.company_id,
            route=None,
            from_address=None,
            failure=(code, message),
            correlation_id=correlation_id,
        )
        with self._pool.connection() as conn:
            row = conn.execute(
                _STORE_FAILED,
                {
                    "id": email_id,
                    "company": request.company_id,
                    "event": event_id,
                    "kind": request.kind,
                    "sender": request.sender,
                    "subject": _storable(request.subject)[:998],
                    "code": code,
                    "message": message,
                    "cid": correlation_id,
                    "failed_event": Jsonb(event),
                },
            ).fetchone()
        return int(row["id"]) if row is not None else None

    def reopen_dead_lettered(self, email_id: str, message_id: str) -> tuple[str, str | None] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                _REOPEN, {"id": email_id, "mid": message_id, "code": DEAD_LETTERED}
            ).fetchone()
        return (row["status"], row["correlation_id"]) if row is not None else None
