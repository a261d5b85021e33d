"""Received Security Event Tokens, once per `jti` (`risc_events`), and the Gmail connections an
event names: by the Google account's `sub`, or by the refresh token a `token-revoked` event
identifies (its first 16 characters, or base64(SHA-512(SHA-512(token)))).

A token is stored with the task that processes it in one transaction, so what was answered 202
is processed however the broker is doing; a replayed `jti` inserts nothing and enqueues nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db import outbox
from mailroute.adapters.db.connection_rows import COLUMNS, record
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import TokenDecryptionError
from mailroute.core.records import ConnectionRecord
from mailroute.core.risc import Outcome, SecurityEvent, StoredEvent
from mailroute.events import queues

_INSERT = (
    "INSERT INTO risc_events (id, jti, event_types, subject, events, issued_at)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (jti) DO NOTHING RETURNING id"
)
# COLUMNS is a constant: nothing a caller gives is interpolated.
_BY_SUBJECT = (
    f"SELECT {COLUMNS} FROM mailbox_connections"  # noqa: S608
    " WHERE google_subject = %s AND provider = 'gmail' ORDER BY id"
)


def _token_matches(alg: str, identifier: str, refresh_token: str) -> bool:
    if alg == "prefix":
        return len(identifier) >= 16 and refresh_token.startswith(identifier)
    if alg == "hash_base64_sha512_sha512":
        digest = hashlib.sha512(hashlib.sha512(refresh_token.encode()).digest()).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), identifier)
    return False


class PostgresSecurityEvents:
    """`core.risc.SecurityEventStore` and `SubjectConnections` on PostgreSQL."""

    def __init__(self, pool: Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    def store_once(self, event: SecurityEvent, correlation_id: str) -> tuple[str, list[int]] | None:
        event_id = str(uuid.uuid4())
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                _INSERT,
                (
                    event_id,
                    event.jti,
                    list(event.event_types),
                    event.subject,
                    Jsonb(dict(event.events)),
                    event.issued_at,
                ),
            ).fetchone()
            if row is None:
                return None
            task = outbox.add_task(
                conn, queues.RISC, queues.HANDLE_SECURITY_EVENT, [event_id], correlation_id
            )
        return event_id, [task]

    def get(self, event_id: str) -> StoredEvent | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT id, jti, issued_at, events, outcome FROM risc_events WHERE id = %s",
                (event_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredEvent(
            id=str(row["id"]),
            jti=row["jti"],
            issued_at=row["issued_at"],
            events=row["events"],
            outcome=row["outcome"],
        )

    def finish(self, event_id: str, outcome: Outcome, connections_broken: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE risc_events SET outcome = %s, connections_broken = %s,"
                " processed_at = now() WHERE id = %s AND outcome IS NULL",
                (outcome, connections_broken, event_id),
            )

    def for_subject(self, subject: str) -> list[ConnectionRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(_BY_SUBJECT, (subject,)).fetchall()
        return [record(row) for row in rows]

    def for_refresh_token(self, alg: str, identifier: str) -> list[ConnectionRecord]:
        """The active Gmail connections holding the refresh token the event identifies (each
        stored token decrypted in turn: the identifier is a prefix or a hash, never indexable)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS}, refresh_token_enc FROM mailbox_connections"  # noqa: S608
                " WHERE provider = 'gmail' AND state = 'active'"
                " AND refresh_token_enc IS NOT NULL ORDER BY id"
            ).fetchall()
        found: list[ConnectionRecord] = []
        for row in rows:
            try:
                token = self._cipher.decrypt(row["refresh_token_enc"])
            except TokenDecryptionError:
                continue
            if _token_matches(alg, identifier, token):
                found.append(record(row))
        return found

    def purge(self, older_than: timedelta) -> int:
        """Delete the rows received longer ago than `older_than` (RISC_RETENTION_DAYS)."""
        with self._pool.connection() as conn:
            deleted = conn.execute(
                "DELETE FROM risc_events WHERE received_at < now() - %s", (older_than,)
            )
        return deleted.rowcount

    def row(self, event_id: str) -> dict[str, Any] | None:
        """The stored row (for operators and tests)."""
        with self._pool.connection() as conn:
            found = conn.execute("SELECT * FROM risc_events WHERE id = %s", (event_id,)).fetchone()
        return dict(found) if found else None
