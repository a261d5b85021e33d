"""A Gmail connection's transitions, each one transaction that also writes its events to the
outbox (and the break, its notice and the notify task):

    connect / re-authorize   -> active, generation + 1, new tokens          (any state);
                                after a break, with the one Active-again notice and its task
    break_connection(gen.)   -> active -> not_connected; for exactly one caller, with the notice
    revoke                   -> disconnected, both tokens deleted

`connect` with another Google account than the stored one, and `revoke`, move the refresh token
they replace (still encrypted) to `pending_revocations` in the same transaction, so Google is
asked to forget it however the request ends (`pending_revocations`).

Every transition writes `GmailConnectionChanged`; the break also writes `AuthBroken`, opens the
one notice for (connection, generation) naming the account and the reason, and writes the
`notify_admins_once` task carrying the `AuthBroken` event: the notice goes out because that
event is delivered, once the broker takes it, whenever that is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db import outbox
from mailroute.adapters.db.active_again_notices import open_active_again
from mailroute.adapters.db.connection_rows import COLUMNS, record
from mailroute.adapters.db.pending_revocations import move_refresh_token
from mailroute.adapters.db.pool import Pool
from mailroute.core.connection_ports import RevocationReason
from mailroute.core.records import Broken, ConnectionRecord
from mailroute.events import AuthBroken, GmailConnectionChanged, queues

CONNECTION_CHANGED = "connection.changed"
AUTH_BROKEN = "connection.auth_broken"

_CONNECT = (
    "INSERT INTO mailbox_connections (id, company_id, provider, state, address, google_subject,"
    " generation, refresh_token_enc, access_token_enc, access_token_expires_at,"
    " scopes, connected_by, connected_at, last_verified_at, refresh_expires_at)"
    " VALUES (%(id)s, %(company)s, %(provider)s, 'active', %(address)s, %(sub)s, 1, %(rt)s,"
    " %(at)s, %(exp)s, %(scopes)s, %(by)s, now(), now(), %(rt_ends)s)"
    " ON CONFLICT (company_id, provider) DO UPDATE SET state = 'active',"
    " address = EXCLUDED.address, google_subject = EXCLUDED.google_subject,"
    " generation = mailbox_connections.generation + 1,"
    " refresh_token_enc = EXCLUDED.refresh_token_enc,"
    " access_token_enc = EXCLUDED.access_token_enc,"
    " access_token_expires_at = EXCLUDED.access_token_expires_at,"
    " refresh_expires_at = EXCLUDED.refresh_expires_at,"
    " scopes = EXCLUDED.scopes, connected_by = EXCLUDED.connected_by,"
    " connected_at = now(), last_verified_at = now(), broken_reason = NULL,"
    " broken_at = NULL, refresh_lease_owner = NULL, refresh_lease_until = NULL,"
    " updated_at = now()"
    f" RETURNING {COLUMNS}"
)
_LOCK = "SELECT state FROM mailbox_connections WHERE company_id = %s AND provider = %s FOR UPDATE"
_BREAK = (
    "UPDATE mailbox_connections SET state = 'not_connected', broken_reason = %s,"
    " broken_at = now(), access_token_enc = NULL, access_token_expires_at = NULL,"
    " updated_at = now() WHERE id = %s AND generation = %s AND state = 'active'"
    f" RETURNING {COLUMNS}"
)
_OPEN_NOTICE = (
    "INSERT INTO auth_broken_notices (connection_id, generation, company_id, reason, address,"
    " broken_at, correlation_id) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (connection_id, generation) DO NOTHING"
)
_REVOKE = (
    "UPDATE mailbox_connections SET state = 'disconnected', refresh_token_enc = NULL,"
    " access_token_enc = NULL, access_token_expires_at = NULL, scopes = '{}',"
    " broken_reason = NULL, broken_at = NULL, refresh_lease_owner = NULL,"
    " refresh_lease_until = NULL, updated_at = now()"
    f" WHERE company_id = %s AND provider = %s RETURNING {COLUMNS}"
)


def _changed(
    conn: Connection[DictRow], after: ConnectionRecord, correlation_id: str | None = None
) -> int:
    event = GmailConnectionChanged(
        connection_id=after.id,
        company_id=after.company_id,
        state=after.state,
        generation=after.generation,
        address=after.address,
        reason=after.broken_reason,
        changed_at=datetime.now(UTC),
        provider=after.provider,  # a registered name; pydantic checks it
    )
    return outbox.add_event(conn, CONNECTION_CHANGED, event.to_wire(), correlation_id)


class ConnectionTransitionsSql:
    """The transitions of one provider's connections (`_provider`, a name registered in
    `core.providers`); a company has at most one per provider."""

    _pool: Pool
    _cipher: TokenCipher
    _provider: str

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
        refresh_expires_at: datetime | None = None,
    ) -> tuple[ConnectionRecord, list[int]]:
        """Connect or re-authorize: active, generation + 1, the new tokens replace the old (the
        old refresh token of another Google account is queued for revocation). Returns the
        record and the outbox id of its `GmailConnectionChanged`. `refresh_expires_at` is the
        new refresh token's end when the provider announced one."""
        params: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "company": company_id,
            "provider": self._provider,
            "address": address,
            "sub": google_subject,
            "rt": self._cipher.encrypt(refresh_token),
            "at": self._cipher.encrypt(access_token),
            "exp": access_token_expires_at,
            "scopes": list(scopes),
            "by": connected_by,
            "rt_ends": refresh_expires_at,
        }
        with self._pool.connection() as conn, conn.transaction():
            before = conn.execute(_LOCK, (company_id, self._provider)).fetchone()
            move_refresh_token(
                conn,
                company_id,
                self._provider,
                reason="superseded",
                unless_subject=google_subject,
            )
            row = conn.execute(_CONNECT, params).fetchone()
            assert row is not None
            after = record(row)
            again = open_active_again(conn, before["state"] if before else None, after)
            return after, [_changed(conn, after), *again]

    def break_connection(
        self, connection_id: str, generation: int, reason: str, correlation_id: str
    ) -> Broken | None:
        """active -> not_connected for this generation, for the one caller that moves it
        (None for every other); with the notice, the events and the notify task."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(_BREAK, (reason, connection_id, generation)).fetchone()
            if row is None:
                return None
            after = record(row)
            event = AuthBroken(
                connection_id=after.id,
                company_id=after.company_id,
                generation=after.generation,
                reason=reason,
                broken_at=after.broken_at or datetime.now(UTC),
                address=after.address,
                correlation_id=correlation_id,
                provider=after.provider,  # a registered name; pydantic checks it
            )
            conn.execute(
                _OPEN_NOTICE,
                (
                    after.id,
                    after.generation,
                    after.company_id,
                    reason,
                    after.address,
                    event.broken_at,
                    correlation_id,
                ),
            )
            wire = event.to_wire()
            ids = [
                outbox.add_event(conn, AUTH_BROKEN, wire, correlation_id),
                _changed(conn, after, correlation_id),
                outbox.add_task(
                    conn, queues.NOTIFY, queues.NOTIFY_ADMINS_ONCE, [wire], correlation_id
                ),
            ]
        return Broken(event=event, record=after, outbox_ids=ids)

    def revoke(
        self, company_id: str, *, reason: RevocationReason = "revoke_access"
    ) -> tuple[ConnectionRecord | None, list[int]]:
        """Delete both tokens and disconnect, the refresh token queued for revocation; the
        record after, or None when there is none."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(_LOCK, (company_id, self._provider))
            move_refresh_token(conn, company_id, self._provider, reason=reason)
            row = conn.execute(_REVOKE, (company_id, self._provider)).fetchone()
            if row is None:
                return None, []
            after = record(row)
            return after, [_changed(conn, after)]
