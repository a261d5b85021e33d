"""Re-authorization links (`reauthorization_links`), the rules of `core.reauthorization`.

Only the SHA-256 of a token is stored. A link is usable while it is unspent and unexpired and
its connection, of the same company and provider, is still not connected at the generation the
link names: every check is in the statement that reads or spends the link, so a link that was
confirmed in two browsers is spent by one sign-in only.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.db.pool import Pool
from mailroute.core.reauthorization import LINK_TTL, ReauthorizationLink

_COLUMNS = (
    "l.company_id, l.connection_id, l.generation, l.provider, l.account_subject, l.address,"
    " l.expires_at"
)
_USABLE = (
    "l.used_at IS NULL AND l.expires_at > now() AND c.id = l.connection_id"
    " AND c.company_id = l.company_id AND c.provider = l.provider"
    " AND c.generation = l.generation AND c.state = 'not_connected'"
)
_LINKS = "reauthorization_links l"
_CONNECTION = "mailbox_connections c"
_PEEK = f"SELECT {_COLUMNS} FROM {_LINKS}, {_CONNECTION} WHERE l.token_hash = %s AND {_USABLE}"  # noqa: S608
_BIND = f"UPDATE {_LINKS} SET sign_in_nonce = %s, confirmed_at = now() FROM {_CONNECTION} WHERE l.token_hash = %s AND {_USABLE} RETURNING {_COLUMNS}"  # noqa: E501, S608
_SPEND = f"UPDATE {_LINKS} SET used_at = now() FROM {_CONNECTION} WHERE l.sign_in_nonce = %s AND {_USABLE} RETURNING {_COLUMNS}"  # noqa: E501, S608
_OF_SIGN_IN = f"SELECT {_COLUMNS} FROM reauthorization_sign_ins s JOIN {_LINKS} ON l.token_hash = s.token_hash WHERE s.nonce = %s"  # noqa: E501, S608
_ISSUE = (
    "INSERT INTO reauthorization_links (token_hash, company_id, connection_id, generation,"
    " provider, account_subject, address, expires_at)"
    " SELECT %s, company_id, id, generation, provider, google_subject, address, now() + %s"
    " FROM mailbox_connections WHERE id = %s AND generation = %s AND state = 'not_connected'"
    " AND google_subject IS NOT NULL AND address IS NOT NULL RETURNING token_hash"
)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _link(row: dict[str, Any] | None) -> ReauthorizationLink | None:
    if row is None:
        return None
    return ReauthorizationLink(
        company_id=str(row["company_id"]),
        connection_id=str(row["connection_id"]),
        generation=row["generation"],
        provider=row["provider"],
        account_subject=row["account_subject"],
        address=row["address"],
        expires_at=row["expires_at"],
    )


def issue_link(
    conn: Connection[DictRow], connection_id: str, generation: int, ttl: timedelta = LINK_TTL
) -> str | None:
    """A new link for this broken generation, in the caller's transaction (the notice's); the
    raw token, shown once, or None when the connection is not that broken generation any more
    or its account's subject is not known."""
    token = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM reauthorization_links WHERE expires_at < now() - interval '1 day'")
    row = conn.execute(_ISSUE, (_hash(token), ttl, connection_id, generation)).fetchone()
    return token if row is not None else None


class PostgresReauthorizationLinks:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def peek(self, token: str) -> ReauthorizationLink | None:
        with self._pool.connection() as conn:
            return _link(conn.execute(_PEEK, (_hash(token),)).fetchone())

    def bind_sign_in(self, token: str, nonce: str) -> ReauthorizationLink | None:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(_BIND, (nonce, _hash(token))).fetchone()
            if row is not None:
                conn.execute(
                    "INSERT INTO reauthorization_sign_ins (nonce, token_hash) VALUES (%s, %s)",
                    (nonce, _hash(token)),
                )
            return _link(row)

    def for_sign_in(self, nonce: str) -> ReauthorizationLink | None:
        with self._pool.connection() as conn:
            return _link(conn.execute(_OF_SIGN_IN, (nonce,)).fetchone())

    def spend(self, nonce: str) -> ReauthorizationLink | None:
        with self._pool.connection() as conn:
            return _link(conn.execute(_SPEND, (nonce,)).fetchone())
