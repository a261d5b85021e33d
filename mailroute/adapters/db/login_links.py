"""One-time login links to the Email settings page, and who may use them (company admins).

Only a hash of each link's token is stored; a link is used once, within its expiry, by the
confirming POST of its page (`peek` shows the page without using it, so a link previewer's GET
spends nothing).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from mailroute.adapters.db.pool import Pool
from mailroute.core.records import AdminUser
from mailroute.events.ids import is_canonical_uuid

LINK_TTL = timedelta(minutes=15)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class PostgresLoginLinks:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def find_admin(self, company_id: str, email: str | None = None) -> AdminUser | None:
        """The company's admin with `email`, or its first admin by email when none is given."""
        if not is_canonical_uuid(company_id):
            return None
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT id, email FROM users WHERE company_id = %s AND role = 'admin'"
                " AND (%s::text IS NULL OR lower(email) = lower(%s)) ORDER BY email LIMIT 1",
                (company_id, email, email),
            ).fetchone()
        return AdminUser(company_id, str(row["id"]), row["email"]) if row else None

    def admin(self, company_id: str, user_id: str) -> AdminUser | None:
        """The user, while they are still an admin of that company."""
        if not (is_canonical_uuid(company_id) and is_canonical_uuid(user_id)):
            return None
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT id, email FROM users WHERE id = %s AND company_id = %s AND role = 'admin'",
                (user_id, company_id),
            ).fetchone()
        return AdminUser(company_id, str(row["id"]), row["email"]) if row else None

    def create(self, admin: AdminUser, ttl: timedelta = LINK_TTL) -> str:
        """A new link token for `admin` (shown once)."""
        token = secrets.token_urlsafe(32)
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM login_links WHERE expires_at < now() - interval '1 day'")
            conn.execute(
                "INSERT INTO login_links (token_hash, company_id, user_id, expires_at)"
                " VALUES (%s, %s, %s, now() + %s)",
                (_hash(token), admin.company_id, admin.user_id, ttl),
            )
        return token

    def peek(self, token: str) -> AdminUser | None:
        """The admin a usable link signs in, without using it (the confirming POST does)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT l.company_id, l.user_id, u.email FROM login_links l"
                " JOIN users u ON u.id = l.user_id AND u.company_id = l.company_id"
                " WHERE l.token_hash = %s AND l.used_at IS NULL AND l.expires_at > now()"
                " AND u.role = 'admin'",
                (_hash(token),),
            ).fetchone()
        if row is None:
            return None
        return AdminUser(str(row["company_id"]), str(row["user_id"]), row["email"])

    def consume(self, token: str) -> AdminUser | None:
        """Use the link once; None when unknown, used, expired, or its user is no admin."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "UPDATE login_links l SET used_at = now() FROM users u"
                " WHERE l.token_hash = %s AND l.used_at IS NULL AND l.expires_at > now()"
                " AND u.id = l.user_id AND u.company_id = l.company_id AND u.role = 'admin'"
                " RETURNING l.company_id, l.user_id, u.email",
                (_hash(token),),
            ).fetchone()
        if row is None:
            return None
        return AdminUser(str(row["company_id"]), str(row["user_id"]), row["email"])
