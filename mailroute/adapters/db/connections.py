"""Gmail connections: the state machine's transitions as conditional UPDATEs, tokens encrypted.

    connect / re-authorize   -> active, generation + 1, new tokens       (any state)
    mark_broken(generation)  -> active -> not_connected; True for exactly one caller
    revoke                   -> disconnected, both tokens deleted

Tokens never leave this module encrypted-at-rest-less except through `tokens()`, and are never
logged. Every method that takes a company id scopes its query to that company.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.pool import Pool
from mailroute.core.records import ConnectionRecord, TokenSet

T = TypeVar("T")


_COLUMNS = (
    "id, company_id, state, address, google_subject, generation, scopes, connected_by,"
    " connected_at, last_verified_at, broken_reason, broken_at, access_token_expires_at,"
    " daily_cap, refresh_token_enc IS NOT NULL AS has_refresh_token"
)


def _record(row: dict[str, Any]) -> ConnectionRecord:
    return ConnectionRecord(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        state=row["state"],
        address=row["address"],
        google_subject=row["google_subject"],
        generation=row["generation"],
        scopes=tuple(row["scopes"] or ()),
        connected_by=str(row["connected_by"]) if row["connected_by"] else None,
        connected_at=row["connected_at"],
        last_verified_at=row["last_verified_at"],
        broken_reason=row["broken_reason"],
        broken_at=row["broken_at"],
        access_token_expires_at=row["access_token_expires_at"],
        daily_cap=row["daily_cap"],
        has_refresh_token=row["has_refresh_token"],
    )


class PostgresConnections:
    def __init__(self, pool: Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    def for_company(self, company_id: str) -> ConnectionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM gmail_connections WHERE company_id = %s", (company_id,)
            ).fetchone()
        return _record(row) if row else None

    def get(self, connection_id: str) -> ConnectionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM gmail_connections WHERE id = %s", (connection_id,)
            ).fetchone()
        return _record(row) if row else None

    def active(self) -> list[ConnectionRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM gmail_connections WHERE state = 'active' ORDER BY id"
            ).fetchall()
        return [_record(r) for r in rows]

    def connect(
        self,
        company_id: str,
        *,
        address: str,
        google_subject: str,
        refresh_token: str,
        access_token: str,
        access_token_expires_at: datetime | None,
        scopes: Sequence[str],
        connected_by: str | None,
    ) -> ConnectionRecord:
        """Connect or re-authorize: active, generation + 1, the new tokens replace the old."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO gmail_connections (id, company_id, state, address, google_subject,"
                " generation, refresh_token_enc, access_token_enc, access_token_expires_at,"
                " scopes, connected_by, connected_at, last_verified_at)"
                " VALUES (%(id)s, %(company)s, 'active', %(address)s, %(sub)s, 1, %(rt)s, %(at)s,"
                " %(exp)s, %(scopes)s, %(by)s, now(), now())"
                " ON CONFLICT (company_id) DO UPDATE SET state = 'active',"
                " address = EXCLUDED.address, google_subject = EXCLUDED.google_subject,"
                " generation = gmail_connections.generation + 1,"
                " refresh_token_enc = EXCLUDED.refresh_token_enc,"
                " access_token_enc = EXCLUDED.access_token_enc,"
                " access_token_expires_at = EXCLUDED.access_token_expires_at,"
                " scopes = EXCLUDED.scopes, connected_by = EXCLUDED.connected_by,"
                " connected_at = now(), last_verified_at = now(), broken_reason = NULL,"
                " broken_at = NULL, updated_at = now()"
                f" RETURNING {_COLUMNS}",
                {
                    "id": str(uuid.uuid4()),
                    "company": company_id,
                    "address": address,
                    "sub": google_subject,
                    "rt": self._cipher.encrypt(refresh_token),
                    "at": self._cipher.encrypt(access_token),
                    "exp": access_token_expires_at,
                    "scopes": list(scopes),
                    "by": connected_by,
                },
            ).fetchone()
        assert row is not None
        return _record(row)

    def mark_broken(self, connection_id: str, generation: int, reason: str) -> bool:
        """active -> not_connected for this generation. True only for the one caller that moved
        it, which is the one that publishes AuthBroken."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE gmail_connections SET state = 'not_connected', broken_reason = %s,"
                " broken_at = now(), access_token_enc = NULL, access_token_expires_at = NULL,"
                " updated_at = now()"
                " WHERE id = %s AND generation = %s AND state = 'active'",
                (reason, connection_id, generation),
            )
            return cur.rowcount == 1

    def mark_verified(self, connection_id: str, generation: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE gmail_connections SET last_verified_at = now()"
                " WHERE id = %s AND generation = %s AND state = 'active'",
                (connection_id, generation),
            )

    def revoke(self, company_id: str) -> ConnectionRecord | None:
        """Delete both tokens and disconnect; returns the record as it was before, or None."""
        with self._pool.connection() as conn, conn.transaction():
            before = conn.execute(
                f"SELECT {_COLUMNS} FROM gmail_connections WHERE company_id = %s FOR UPDATE",
                (company_id,),
            ).fetchone()
            if before is None:
                return None
            conn.execute(
                "UPDATE gmail_connections SET state = 'disconnected', refresh_token_enc = NULL,"
                " access_token_enc = NULL, access_token_expires_at = NULL, scopes = '{}',"
                " broken_reason = NULL, broken_at = NULL, updated_at = now()"
                " WHERE company_id = %s",
                (company_id,),
            )
        return _record(before)

    def tokens(self, connection_id: str) -> TokenSet | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT refresh_token_enc, access_token_enc, access_token_expires_at"
                " FROM gmail_connections WHERE id = %s",
                (connection_id,),
            ).fetchone()
        return self._token_set(row)

    def refresh_under_lock(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], tuple[str, datetime | None]],
    ) -> TokenSet | None:
        """Refresh the access token at most once across threads and processes.

        Locks the connection's row; if another caller refreshed while we waited (`still_fresh`
        says so), returns its token without calling Google. Otherwise calls `refresh` (which may
        raise) and stores the new access token. None when the connection is not active any more.
        """
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT refresh_token_enc, access_token_enc, access_token_expires_at"
                " FROM gmail_connections"
                " WHERE id = %s AND generation = %s AND state = 'active' FOR UPDATE",
                (connection_id, generation),
            ).fetchone()
            current = self._token_set(row)
            if current is None:
                return None
            if still_fresh(current):
                return current
            access_token, expires_at = refresh(current)
            conn.execute(
                "UPDATE gmail_connections SET access_token_enc = %s,"
                " access_token_expires_at = %s, last_verified_at = now(), updated_at = now()"
                " WHERE id = %s",
                (self._cipher.encrypt(access_token), expires_at, connection_id),
            )
        return TokenSet(current.refresh_token, access_token, expires_at)

    def reencrypt_all(self) -> int:
        """Re-encrypt every stored token under the newest key; returns rows rewritten."""
        count = 0
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT id, refresh_token_enc, access_token_enc FROM gmail_connections"
                " WHERE refresh_token_enc IS NOT NULL OR access_token_enc IS NOT NULL FOR UPDATE"
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE gmail_connections SET refresh_token_enc = %s, access_token_enc = %s"
                    " WHERE id = %s",
                    (
                        self._cipher.rotate(row["refresh_token_enc"])
                        if row["refresh_token_enc"]
                        else None,
                        self._cipher.rotate(row["access_token_enc"])
                        if row["access_token_enc"]
                        else None,
                        row["id"],
                    ),
                )
                count += 1
        return count

    def set_pacing_limits(
        self,
        connection_id: str,
        *,
        sends_per_minute: float | None = None,
        max_concurrent_sends: int | None = None,
        daily_cap: int | None = None,
    ) -> None:
        """The connection's own pacing limits. None for the first two means "the
        settings' default"; `daily_cap` None leaves the cap as it is."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE gmail_connections SET sends_per_minute = %s, max_concurrent_sends = %s,"
                " daily_cap = coalesce(%s, daily_cap), updated_at = now() WHERE id = %s",
                (sends_per_minute, max_concurrent_sends, daily_cap, connection_id),
            )

    def _token_set(self, row: dict[str, Any] | None) -> TokenSet | None:
        if row is None or row["refresh_token_enc"] is None:
            return None
        access = row["access_token_enc"]
        expires_at = row["access_token_expires_at"]
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return TokenSet(
            refresh_token=self._cipher.decrypt(row["refresh_token_enc"]),
            access_token=self._cipher.decrypt(access) if access is not None else None,
            access_token_expires_at=expires_at,
        )
