"""Pruning what mailroute keeps no longer (`core.retention` says what and when): one statement
per thing, each taking at most `limit` rows, oldest first, through an index of its own
(migration 0012), rows locked by someone else skipped, committed on its own. So a prune never
holds many locks or holds them long, and costs what it deletes, not the size of the table.

Each statement's question is also asked by `core.retention` in Python (`content_purgeable`).
"""

from __future__ import annotations

from datetime import timedelta

from mailroute.adapters.db.pool import Pool
from mailroute.core.abandoned import DEAD_LETTERED
from mailroute.core.retention import Prune

# An email's bodies and its attachments' bytes, in one statement; metadata, sizes and sha256
# stay. An ended email's `updated_at` is the time of its outcome: nothing moves it afterwards
# but a retry, which makes the email unfinished again.
_PURGE = (
    "WITH chosen AS (SELECT id FROM emails WHERE status IN ('sent', 'failed')"
    " AND content_purged_at IS NULL AND updated_at < now() - %(age)s AND {which}"
    " ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
    " bytes AS (UPDATE attachments a SET content = NULL FROM chosen"
    "  WHERE a.email_id = chosen.id AND a.content IS NOT NULL)"
    " UPDATE emails e SET text_body = NULL, html_body = NULL, content_purged_at = now()"
    " FROM chosen WHERE e.id = chosen.id"
)
_DEAD = f"status = 'failed' AND error_code = '{DEAD_LETTERED}'"


def _delete(table: str, key: str, where: str, oldest: str) -> str:
    """DELETE of at most %(limit)s rows of `table` matching `where`, `oldest` first."""
    return (
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {where}"  # noqa: S608
        f" ORDER BY {oldest} LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    )


# Built from constants only.
_STATEMENTS: dict[Prune, str] = {
    Prune.EMAIL_CONTENT: _PURGE.format(which=f"NOT ({_DEAD})"),
    Prune.DEAD_LETTERED_CONTENT: _PURGE.format(which=_DEAD),
    # Never an unpublished row; a refused one is kept as long as content, for its reason.
    Prune.PUBLISHED_OUTBOX: _delete(
        "outbox_events",
        "id",
        "published_at < now() - %(age)s AND refused_reason IS NULL",
        "published_at",
    ),
    Prune.REFUSED_OUTBOX: _delete(
        "outbox_events",
        "id",
        "published_at < now() - %(age)s AND refused_reason IS NOT NULL",
        "published_at",
    ),
    Prune.REJECTED_MESSAGES: _delete(
        "rejected_messages", "id", "created_at < now() - %(age)s", "created_at"
    ),
    Prune.DEAD_LETTERS: _delete(
        "dead_letters", "message_id", "failed_at < now() - %(age)s", "failed_at"
    ),
    # Their attempts go with them (ON DELETE CASCADE). Pending, sending and held ones stay.
    Prune.WEBHOOK_DELIVERIES: _delete(
        "webhook_deliveries",
        "id",
        "status IN ('delivered', 'failed') AND updated_at < now() - %(age)s",
        "updated_at",
    ),
    # Settled rows keep no token; one whose company was deleted goes once settled.
    Prune.SETTLED_REVOCATIONS: _delete(
        "pending_revocations",
        "id",
        "status <> 'pending' AND settled_at < now() - %(age)s",
        "settled_at",
    ),
    Prune.ORPHANED_REVOCATIONS: _delete(
        "pending_revocations",
        "id",
        "status <> 'pending' AND company_id IS NULL AND settled_at < now() - %(age)s",
        "settled_at",
    ),
    Prune.OAUTH_STATES: _delete(
        "oauth_states", "nonce", "expires_at < now() - %(age)s", "expires_at"
    ),
    Prune.LOGIN_LINKS: _delete(
        "login_links", "token_hash", "expires_at < now() - %(age)s", "expires_at"
    ),
    Prune.RATE_LIMITS: _delete("rate_limits", "key", "updated_at < now() - %(age)s", "updated_at"),
    Prune.BROWSER_SESSIONS: _delete(
        "browser_sessions", "id", "expires_at < now() - %(age)s", "expires_at"
    ),
}


def prune_statement(what: Prune) -> str:
    """The SQL that prunes one batch of `what` (for EXPLAIN and for tests)."""
    return _STATEMENTS[what]


class PostgresRetention:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def prune(self, what: Prune, *, older_than: timedelta, limit: int) -> int:
        """One batch, in a transaction of its own; how many rows it deleted or purged."""
        with self._pool.connection() as conn:
            cursor = conn.execute(_STATEMENTS[what], {"age": older_than, "limit": limit})
            return max(cursor.rowcount, 0)
