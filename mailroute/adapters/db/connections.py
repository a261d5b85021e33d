"""Mailbox connections, one provider's per store: reads, tokens (encrypted at rest); one
refresh at a time under a lease that holds no lock across the provider's call
(`refresh_lease`); the state machine's transitions are in `connection_transitions`.

Tokens never leave this module encrypted-at-rest-less except through `tokens()`, and are never
logged. Every method that takes a company id scopes its query to that company.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connection_rows import COLUMNS as _COLUMNS
from mailroute.adapters.db.connection_rows import record as _record
from mailroute.adapters.db.connection_transitions import ConnectionTransitionsSql
from mailroute.adapters.db.oauth_states import reencrypt_pending_sign_ins
from mailroute.adapters.db.pending_revocations import reencrypt_pending
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.refresh_lease import RefreshLease
from mailroute.adapters.db.webhook_endpoints import reencrypt_webhook_secrets
from mailroute.core.errors import TokenDecryptionError
from mailroute.core.records import ConnectionRecord, TokenSet


@dataclass(frozen=True)
class Reencrypted:
    """What `reencrypt_all` rewrote under the newest key, and what no configured key reads."""

    connections: int
    revocations: int
    sign_ins: int
    unreadable: tuple[str, ...]
    webhook_secrets: int = 0


class PostgresConnections(RefreshLease, ConnectionTransitionsSql):
    """One provider's connections (`provider`, registered in `core.providers`)."""

    def __init__(self, pool: Pool, cipher: TokenCipher, provider: str = "gmail") -> None:
        self._pool = pool
        self._cipher = cipher
        self._provider = provider

    def for_company(self, company_id: str) -> ConnectionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM mailbox_connections"
                " WHERE company_id = %s AND provider = %s",
                (company_id, self._provider),
            ).fetchone()
        return _record(row) if row else None

    def get(self, connection_id: str) -> ConnectionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM mailbox_connections WHERE id = %s", (connection_id,)
            ).fetchone()
        return _record(row) if row else None

    def active(self) -> list[ConnectionRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM mailbox_connections"
                " WHERE state = 'active' AND provider = %s ORDER BY id",
                (self._provider,),
            ).fetchall()
        return [_record(r) for r in rows]

    def mark_verified(self, connection_id: str, generation: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE mailbox_connections SET last_verified_at = now()"
                " WHERE id = %s AND generation = %s AND state = 'active'",
                (connection_id, generation),
            )

    def tokens(self, connection_id: str) -> TokenSet | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT refresh_token_enc, access_token_enc, access_token_expires_at"
                " FROM mailbox_connections WHERE id = %s",
                (connection_id,),
            ).fetchone()
        return self._token_set(row)

    def reencrypt_all(self) -> Reencrypted:
        """Re-encrypt every stored secret under the newest key, in one transaction: the
        connections' tokens, pending revocations' tokens and pending sign-ins' PKCE verifiers
        (finished sign-ins are deleted: nothing reads them again). A connection no configured
        key reads is left as it is and named (a removed key may come back)."""
        count = 0
        unreadable: list[str] = []
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT id, company_id, refresh_token_enc, access_token_enc"
                " FROM mailbox_connections"
                " WHERE refresh_token_enc IS NOT NULL OR access_token_enc IS NOT NULL FOR UPDATE"
            ).fetchall()
            for row in rows:
                try:
                    rotated = [
                        self._cipher.rotate(row[c]) if row[c] else None
                        for c in ("refresh_token_enc", "access_token_enc")
                    ]
                except TokenDecryptionError:
                    unreadable.append(f"connection {row['id']} (company {row['company_id']})")
                    continue
                conn.execute(
                    "UPDATE mailbox_connections SET refresh_token_enc = %s, access_token_enc = %s"
                    " WHERE id = %s",
                    (*rotated, row["id"]),
                )
                count += 1
            revocations = reencrypt_pending(conn, self._cipher)
            sign_ins = reencrypt_pending_sign_ins(conn, self._cipher)
            webhooks, unread = reencrypt_webhook_secrets(conn, self._cipher)
        return Reencrypted(count, revocations, sign_ins, (*unreadable, *unread), webhooks)

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
                "UPDATE mailbox_connections SET sends_per_minute = %s, max_concurrent_sends = %s,"
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

    def due_for_check(self, *, interval: timedelta, limit: int) -> list[str]:
        """Company ids of active connections not verified within `interval`, oldest check
        first (the clock's connection checks)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT company_id FROM mailbox_connections WHERE state = 'active'"
                " AND provider = %s"
                " AND (last_verified_at IS NULL OR last_verified_at < now() - %s)"
                " ORDER BY last_verified_at NULLS FIRST LIMIT %s",
                (self._provider, interval, limit),
            ).fetchall()
        return [str(row["company_id"]) for row in rows]
