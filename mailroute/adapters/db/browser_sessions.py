"""Browser sessions in PostgreSQL (`browser_sessions`): the cookie holds a random token and
only its SHA-256 is stored, so a database read does not hand out sessions.

A session ends when it is signed out (the row is deleted), when it expires (checked in SQL,
whatever the cookie's own max-age says), and on the first request after its admin stopped
being an admin of its company (the row is deleted then). Removing the user or the company
removes the row.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.adapters.db.pool import Pool
from mailroute.core.records import AdminUser
from mailroute.core.web_ports import BrowserSessionRecord, OpenedSession

MAX_NOTICES = 5


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class PostgresBrowserSessions:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def open(self, admin: AdminUser | None, ttl: timedelta) -> OpenedSession:
        token = secrets.token_urlsafe(32)
        record = BrowserSessionRecord(secrets.token_urlsafe(24), secrets.token_urlsafe(24), admin)
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM browser_sessions WHERE expires_at < now()")
            conn.execute(
                "INSERT INTO browser_sessions (id, token_hash, company_id, user_id, csrf,"
                " expires_at) VALUES (%s, %s, %s, %s, %s, now() + %s)",
                (
                    record.session_id,
                    _hash(token),
                    admin.company_id if admin else None,
                    admin.user_id if admin else None,
                    record.csrf,
                    ttl,
                ),
            )
        return OpenedSession(token, record)

    def find(self, token: str) -> BrowserSessionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT s.id, s.csrf, s.company_id, s.user_id, u.email,"
                " (s.user_id IS NULL OR (u.role = 'admin' AND u.company_id = s.company_id))"
                " AS admin_still"
                " FROM browser_sessions s LEFT JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = %s AND s.expires_at > now()",
                (_hash(token),),
            ).fetchone()
            if row is None:
                return None
            if not row["admin_still"]:
                conn.execute("DELETE FROM browser_sessions WHERE id = %s", (row["id"],))
                return None
        admin = (
            AdminUser(str(row["company_id"]), str(row["user_id"]), row["email"])
            if row["user_id"] is not None
            else None
        )
        return BrowserSessionRecord(row["id"], row["csrf"], admin)

    def end(self, session_id: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM browser_sessions WHERE id = %s", (session_id,))

    def push(self, session_id: str, notice: dict[str, Any]) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE browser_sessions SET notices = (CASE WHEN jsonb_array_length(notices)"
                " >= %s THEN notices - 0 ELSE notices END) || jsonb_build_array(%s::jsonb)"
                " WHERE id = %s",
                (MAX_NOTICES, Jsonb(notice), session_id),
            )

    def pop(self, session_id: str) -> list[dict[str, Any]]:
        with self._pool.connection() as conn:
            row = conn.execute(
                "UPDATE browser_sessions s SET notices = '[]' FROM"
                " (SELECT id, notices FROM browser_sessions WHERE id = %s FOR UPDATE) old"
                " WHERE s.id = old.id RETURNING old.notices",
                (session_id,),
            ).fetchone()
        notices = row["notices"] if row else []
        return [n for n in notices if isinstance(n, dict)] if isinstance(notices, list) else []
